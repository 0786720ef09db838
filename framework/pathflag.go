// # Path flags
//
// The daemon stage runs in another working directory ("/" unless --chdir
// says otherwise), so a relative path given on the command line, such as
// `svc start --config rel.conf`, would name another file in the daemon
// than in the shell that started it. A flag declared with [Daemon.PathVar]
// is a path flag: its value, and its default, are made absolute against
// the working directory of the process that parses the command line (the
// launcher, or the foreground process), and the launcher passes the
// absolute value on to the daemon stage, which thus opens the file the
// user meant. Flags declared on [Daemon.Flags] directly are passed on as
// they were given.
//
// The daemon stage's command line also reads `start`, whatever verb
// started it (`restart` included), so that ps shows what runs.
package framework

import (
	"flag"
	"path/filepath"
	"strings"
)

// PathVar defines a path flag (see "Path flags" in the package
// documentation) on [Daemon.Flags]:
// name, with default value def and the usage string, stored in *p as an
// absolute path ("" stays "").
func (d *Daemon) PathVar(p *string, name, def, usage string) {
	v := (*pathValue)(p)
	v.Set(def)
	d.flags.Var(v, name, usage)
}

// pathValue is a flag.Value that stores its value as an absolute path.
type pathValue string

func (v *pathValue) String() string { return string(*v) }

func (v *pathValue) Set(s string) error {
	if s != "" && !filepath.IsAbs(s) {
		abs, err := filepath.Abs(s)
		if err != nil {
			return err
		}
		s = abs
	}
	*v = pathValue(s)
	return nil
}

// daemonArgs returns the command line the daemon stage is started with:
// args with the verb replaced by "start" and every path flag's value
// replaced by its absolute path (path flags not given are appended with
// their absolute defaults).
func (d *Daemon) daemonArgs(args []string) []string { return d.stageArgs(args, "start") }

// stageArgs returns args with the verb replaced by verb and the path flags
// made absolute, as [Daemon.daemonArgs] says.
func (d *Daemon) stageArgs(args []string, verb string) []string {
	out := append([]string(nil), args...)
	seen := map[string]bool{}
	verbDone := false
	for i := 1; i < len(out); i++ {
		a := out[i]
		if a == "--" && !verbDone {
			continue
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			if !verbDone {
				out[i], verbDone = verb, true
			}
			continue
		}
		name, val, inline := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := d.flags.Lookup(name)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		_, isPath := f.Value.(*pathValue)
		switch {
		case inline && isPath:
			var abs pathValue
			abs.Set(val)
			out[i] = "-" + name + "=" + string(abs)
		case !inline && i+1 < len(out):
			i++
			if isPath {
				var abs pathValue
				abs.Set(out[i])
				out[i] = string(abs)
			}
		}
		if isPath {
			seen[name] = true
		}
	}
	d.flags.VisitAll(func(f *flag.Flag) {
		if _, ok := f.Value.(*pathValue); ok && !seen[f.Name] {
			out = append(out, "-"+f.Name+"="+f.Value.String())
		}
	})
	return out
}
