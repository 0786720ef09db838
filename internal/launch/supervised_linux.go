package launch

import (
	"context"
	"errors"
	"os"
	"syscall"
)

// extraFiles returns the descriptors from [PIDFileFD] on: the PID file and
// s.Files, or for a supervised program nothing at PIDFileFD (a nil entry
// leaves that number closed in the child).
func (s Spec) extraFiles() []*os.File {
	first := (*os.File)(nil)
	if !s.Supervised {
		first = s.PIDFile.File()
	}
	return append([]*os.File{first}, s.Files...)
}

// pdeathsig is the signal a supervised program gets when the thread that
// started it ends (PR_SET_PDEATHSIG, set after the switch to the
// program's identity, which would clear it, and kept across its exec):
// SIGKILL, so that a program never outlives the supervisor that holds its
// PID file's lock, even one killed with SIGKILL. Go starts a process from
// the calling goroutine's thread, so a supervisor starts programs from a
// thread that lives as long as it does (its main thread, locked).
// Unsupervised daemons outlive their launcher by design: none.
func (s Spec) pdeathsig() syscall.Signal {
	if s.Supervised {
		return syscall.SIGKILL
	}
	return 0
}

// RunSupervised starts s, which must be [Spec.Supervised], and waits until
// r says it is ready, as [Run] does, but leaves the PID file alone: the
// supervisor holds it and names itself there. It returns the program,
// still our unreaped child with its pidfd open (so that its PID and process
// group ID cannot be reused while we signal them), and the PID r named.
// [Readiness.Written] is called once the program is ready (nothing is
// written). On failure the program and its process group are killed and
// the program reaped ([Proc.Fail]), and the error is a [*Failure] named
// after command, or says what failed before the start.
func RunSupervised(ctx context.Context, s Spec, command string, r Readiness) (*Proc, int, error) {
	if !s.Supervised {
		return nil, 0, errors.New("launch: RunSupervised needs a Supervised Spec")
	}
	p, err := Start(s)
	if err != nil {
		return nil, 0, err
	}
	pid, err := r.Wait(ctx, p)
	if err == nil {
		err = r.Written(p, pid)
	}
	if err == nil {
		return p, pid, nil
	}
	if k := (Kept{}); errors.As(err, &k) {
		err = k.Err // nothing is kept: a supervised program is ours to end
	}
	f := p.Fail(command, err)
	r.Failed(f)
	return nil, 0, f
}
