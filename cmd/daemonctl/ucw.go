package main

import (
	"fmt"
	"strings"
)

// ucwActions are libucw's action options.
var ucwActions = map[string]bool{"--start": true, "--stop": true, "--check": true, "--reload": true}

// verbs are the subcommand names (and aliases) of daemonctl.
var verbs = map[string]bool{
	"start": true, "stop": true, "status": true, "check": true, "signal": true,
	"reload": true, "restart": true, "help": true, "completion": true,
	"__complete": true, "__completeNoDesc": true,
}

// valueFlags are the options that take a value as the next argument (when
// not given as --flag=value): that argument is never an action or a verb.
var valueFlags = map[string]bool{
	"--pid-file": true, "-p": true, "--guard-file": true, "--timeout": true,
	"--kill-after": true, "--user": true, "--group": true, "--chdir": true,
	"--umask": true, "--output": true, "--env": true, "--ready-fd": true,
}

// rewriteUCW turns libucw's ucw-daemon-control spelling
//
//	--start|--stop|--check|--reload [--signal SIG] --pid-file F [--guard-file G] [-- CMD ARG...]
//	--signal SIG --pid-file F
//
// into daemonctl's subcommand spelling. Arguments in the subcommand
// spelling are returned unchanged. Only arguments before "--" are examined.
func rewriteUCW(args []string) ([]string, error) {
	head, tail := args, []string(nil)
	for i, a := range args {
		if a == "--" {
			head, tail = args[:i], args[i:]
			break
		}
	}
	var action, sig string
	hasSig, hasVerb := false, false
	rest := make([]string, 0, len(head))
	for i := 0; i < len(head); i++ {
		a := head[i]
		if ucwActions[a] {
			if action != "" && action != a {
				return nil, usageErrorf("%s and %s cannot be combined: give one action", action, a)
			}
			action = a
			continue
		}
		if a == "--signal" || strings.HasPrefix(a, "--signal=") {
			if hasSig {
				return nil, usageErrorf("--signal given twice")
			}
			hasSig = true
			if v, ok := strings.CutPrefix(a, "--signal="); ok {
				sig = v
			} else {
				if i+1 >= len(head) {
					return nil, usageErrorf("--signal needs a signal name or number")
				}
				i++
				sig = head[i]
			}
			continue
		}
		if valueFlags[a] && i+1 < len(head) {
			// --pid-file stop: "stop" is the file's name.
			rest = append(rest, a, head[i+1])
			i++
			continue
		}
		if !strings.HasPrefix(a, "-") && verbs[a] {
			hasVerb = true
		}
		rest = append(rest, a)
	}
	if action == "" && (!hasSig || hasVerb) {
		return args, nil // the subcommand spelling
	}
	if hasVerb {
		return nil, usageErrorf("%s cannot be combined with a subcommand", action)
	}
	var out []string
	switch action {
	case "--start":
		if hasSig {
			return nil, usageErrorf("--signal does not apply to --start")
		}
		out = append([]string{"start"}, rest...)
	case "--stop":
		out = append([]string{"stop"}, rest...)
		if hasSig {
			out = append(out, "--signal", sig)
		}
	case "--check":
		if hasSig {
			return nil, usageErrorf("--signal does not apply to --check")
		}
		out = append([]string{"status"}, rest...)
	case "--reload", "":
		// --reload sends SIGHUP, or the --signal given; --signal alone
		// sends that signal.
		if hasSig {
			out = append(append([]string{"signal"}, rest...), sig)
		} else {
			out = append([]string{"reload"}, rest...)
		}
	}
	if len(tail) > 0 && action != "--start" {
		return nil, usageErrorf("a command after -- is only taken by --start")
	}
	return append(out, tail...), nil
}

// usageError is a mistake in the command line: exit status 1.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}
