package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/daemonkit/daemonkit/internal/verbs"
)

// isUCWAction reports whether a is one of libucw's action options.
func isUCWAction(a string) bool {
	switch a {
	case "--start", "--stop", "--check", "--reload":
		return true
	}
	return false
}

// spelling is what rewriteUCW needs to know about daemonctl's own command
// line, read from its cobra commands: the subcommand names (and aliases)
// and the options that take a value as the next argument.
type spelling struct {
	verbs  map[string]bool
	valued map[string]bool
}

// spellingOf reads root's subcommands and flags.
func spellingOf(root *cobra.Command) spelling {
	sp := spelling{verbs: map[string]bool{"help": true, "completion": true,
		cobra.ShellCompRequestCmd: true, cobra.ShellCompNoDescRequestCmd: true}, valued: map[string]bool{}}
	addFlags := func(fs *pflag.FlagSet) {
		fs.VisitAll(func(f *pflag.Flag) {
			if f.NoOptDefVal == "" { // not a boolean: takes a value
				sp.valued["--"+f.Name] = true
				if f.Shorthand != "" {
					sp.valued["-"+f.Shorthand] = true
				}
			}
		})
	}
	addFlags(root.PersistentFlags())
	for _, cmd := range root.Commands() {
		sp.verbs[cmd.Name()] = true
		for _, a := range cmd.Aliases {
			sp.verbs[a] = true
		}
		addFlags(cmd.Flags())
	}
	return sp
}

// rewriteUCW turns libucw's ucw-daemon-control spelling
//
//	--start|--stop|--check|--reload [--signal SIG] --pid-file F [--guard-file G] [-- CMD ARG...]
//	--signal SIG --pid-file F
//
// into daemonctl's subcommand spelling. Arguments in the subcommand
// spelling are returned unchanged. Only arguments before "--" are examined.
func rewriteUCW(sp spelling, args []string) ([]string, error) {
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
				return nil, verbs.Usagef("%s and %s cannot be combined: give one action", action, a)
			}
			action = a
			continue
		}
		if a == "--signal" || strings.HasPrefix(a, "--signal=") {
			if hasSig {
				return nil, verbs.Usagef("--signal given twice")
			}
			hasSig = true
			if v, ok := strings.CutPrefix(a, "--signal="); ok {
				sig = v
			} else {
				if i+1 >= len(head) {
					return nil, verbs.Usagef("--signal needs a signal name or number")
				}
				i++
				sig = head[i]
			}
			continue
		}
		if a != "--signal" && sp.valued[a] && i+1 < len(head) {
			// --pid-file stop: "stop" is the file's name.
			rest = append(rest, a, head[i+1])
			i++
			continue
		}
		if !strings.HasPrefix(a, "-") && sp.verbs[a] {
			hasVerb = true
		}
		rest = append(rest, a)
	}
	if action == "" && (!hasSig || hasVerb) {
		return args, nil // the subcommand spelling
	}
	if hasVerb {
		return nil, verbs.Usagef("%s cannot be combined with a subcommand", action)
	}
	var out []string
	switch action {
	case "--start":
		if hasSig {
			return nil, verbs.Usagef("--signal does not apply to --start")
		}
		out = append([]string{"start"}, rest...)
	case "--stop":
		out = append([]string{"stop"}, rest...)
		if hasSig {
			out = append(out, "--signal", sig)
		}
	case "--check":
		if hasSig {
			return nil, verbs.Usagef("--signal does not apply to --check")
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
		return nil, verbs.Usagef("a command after -- is only taken by --start")
	}
	return append(out, tail...), nil
}
