package main

import (
	"fmt"
	"strings"
)

// isUCWAction reports whether a is one of libucw's action options.
func isUCWAction(a string) bool {
	switch a {
	case "--start", "--stop", "--check", "--reload":
		return true
	}
	return false
}

// isVerb reports whether a is a subcommand name (or alias) of daemonctl.
func isVerb(a string) bool {
	switch a {
	case "start", "stop", "status", "check", "signal", "reload", "restart",
		"help", "completion", "__complete", "__completeNoDesc":
		return true
	}
	return false
}

// takesValue reports whether option a takes a value as the next argument
// (when not given as --flag=value): that argument is never an action or a
// verb.
func takesValue(a string) bool {
	switch a {
	case "--pid-file", "-p", "--guard-file", "--timeout", "--kill-after",
		"--user", "--group", "--chdir", "--umask", "--output", "--env", "--ready-fd":
		return true
	}
	return false
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
		if isUCWAction(a) {
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
		if takesValue(a) && i+1 < len(head) {
			// --pid-file stop: "stop" is the file's name.
			rest = append(rest, a, head[i+1])
			i++
			continue
		}
		if !strings.HasPrefix(a, "-") && isVerb(a) {
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
