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
	u, err := scanUCW(sp, head)
	if err != nil {
		return nil, err
	}
	if u.action == "" && (!u.hasSig || u.hasVerb) {
		return args, nil // the subcommand spelling
	}
	if u.hasVerb {
		return nil, verbs.Usagef("%s cannot be combined with a subcommand", u.action)
	}
	out, err := u.subcommand()
	if err != nil {
		return nil, err
	}
	if len(tail) > 0 && u.action != "--start" {
		return nil, verbs.Usagef("a command after -- is only taken by --start")
	}
	return append(out, tail...), nil
}

// ucwArgs is what [scanUCW] found before "--".
type ucwArgs struct {
	action  string   // --start, --stop, --check, --reload, or "" for none
	sig     string   // the --signal value
	hasSig  bool     // --signal was given
	hasVerb bool     // a subcommand name was given too
	rest    []string // every other argument, in order
}

// scanUCW separates the libucw action and --signal from the other
// arguments of head, rejecting a repeated or conflicting one.
func scanUCW(sp spelling, head []string) (ucwArgs, error) {
	u := ucwArgs{rest: make([]string, 0, len(head))}
	for i := 0; i < len(head); i++ {
		a := head[i]
		if isUCWAction(a) {
			if u.action != "" && u.action != a {
				return u, verbs.Usagef("%s and %s cannot be combined: give one action", u.action, a)
			}
			u.action = a
			continue
		}
		if a == "--signal" || strings.HasPrefix(a, "--signal=") {
			if u.hasSig {
				return u, verbs.Usagef("--signal given twice")
			}
			u.hasSig = true
			if v, ok := strings.CutPrefix(a, "--signal="); ok {
				u.sig = v
			} else {
				if i+1 >= len(head) {
					return u, verbs.Usagef("--signal needs a signal name or number")
				}
				i++
				u.sig = head[i]
			}
			continue
		}
		if a != "--signal" && sp.valued[a] && i+1 < len(head) {
			// --pid-file stop: "stop" is the file's name.
			u.rest = append(u.rest, a, head[i+1])
			i++
			continue
		}
		if !strings.HasPrefix(a, "-") && sp.verbs[a] {
			u.hasVerb = true
		}
		u.rest = append(u.rest, a)
	}
	return u, nil
}

// subcommand spells u's action as a daemonctl subcommand with its
// arguments.
func (u ucwArgs) subcommand() ([]string, error) {
	var out []string
	switch u.action {
	case "--start":
		if u.hasSig {
			return nil, verbs.Usagef("--signal does not apply to --start")
		}
		out = append([]string{"start"}, u.rest...)
	case "--stop":
		out = append([]string{"stop"}, u.rest...)
		if u.hasSig {
			out = append(out, "--signal", u.sig)
		}
	case "--check":
		if u.hasSig {
			return nil, verbs.Usagef("--signal does not apply to --check")
		}
		out = append([]string{"status"}, u.rest...)
	case "--reload", "":
		// --reload sends SIGHUP, or the --signal given; --signal alone
		// sends that signal.
		if u.hasSig {
			out = append(append([]string{"signal"}, u.rest...), u.sig)
		} else {
			out = append([]string{"reload"}, u.rest...)
		}
	}
	return out, nil
}
