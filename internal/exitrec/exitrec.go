// Package exitrec keeps the record of how a framework daemon ended, next
// to its PID file, so that `status` can say why a daemon whose PID file is
// stale died: its exit status, its error and when.
//
// The record of PID file X.pid is X.exit (any other name: name + ".exit"),
// a small text file:
//
//	daemonkit-exit 1
//	pid 1234
//	time 2026-12-03T09:00:00Z
//	status 1
//	error body: upstream connection lost
//
// A file at that path is only ever written if it is empty or already a
// record, a regular file with one link that belongs to the writer:
// anything else is left untouched ([ErrNotRecord]). It is opened without
// following symlinks.
package exitrec

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// magic is the first line of every record.
const magic = "daemonkit-exit 1"

// maxSize bounds what Read reads and Write writes.
const maxSize = 4096

// ErrNotRecord: the file at the record's path is not an exit record; it
// was not written.
var ErrNotRecord = errors.New("not a daemonkit exit record")

// Record says how a daemon ended.
type Record struct {
	PID    int
	Time   time.Time
	Status int    // the exit status
	Error  string // the error it ended with; one line
}

// Path returns the record's path for the PID file pidFile.
func Path(pidFile string) string {
	if strings.HasSuffix(pidFile, ".pid") {
		return strings.TrimSuffix(pidFile, ".pid") + ".exit"
	}
	return pidFile + ".exit"
}

// String formats r as it is stored.
func (r Record) String() string {
	msg := strings.Join(strings.Fields(r.Error), " ")
	if len(msg) > maxSize/2 {
		msg = msg[:maxSize/2] + "..."
	}
	return fmt.Sprintf("%s\npid %d\ntime %s\nstatus %d\nerror %s\n", magic, r.PID, r.Time.UTC().Format(time.RFC3339), r.Status, msg)
}

// Parse reads a record.
func Parse(b []byte) (Record, error) {
	var r Record
	if len(b) > maxSize {
		return r, fmt.Errorf("%w: %d bytes", ErrNotRecord, len(b))
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	if !sc.Scan() || sc.Text() != magic {
		return r, ErrNotRecord
	}
	seen := map[string]bool{}
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), " ")
		if seen[key] {
			return Record{}, fmt.Errorf("%w: %q twice", ErrNotRecord, key)
		}
		seen[key] = true
		var err error
		switch key {
		case "pid":
			r.PID, err = strconv.Atoi(val)
			if err == nil && r.PID <= 1 {
				err = errors.New("bad pid")
			}
		case "time":
			r.Time, err = time.Parse(time.RFC3339, val)
		case "status":
			r.Status, err = strconv.Atoi(val)
		case "error":
			r.Error = val
		default:
			err = errors.New("unknown field")
		}
		if err != nil {
			return Record{}, fmt.Errorf("%w: %q: %v", ErrNotRecord, key, err)
		}
	}
	if !seen["pid"] || !seen["time"] || !seen["status"] {
		return Record{}, fmt.Errorf("%w: fields missing", ErrNotRecord)
	}
	return r, nil
}

// Write stores r as the record of pidFile. A file that is there and is
// neither empty nor a record is left as it is ([ErrNotRecord]).
func Write(pidFile string, r Record) error {
	path := Path(pidFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("exit record: %w", err)
	}
	defer f.Close()
	if err := checkOurs(f, path); err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("exit record: %w", err)
	}
	if _, err := f.WriteAt([]byte(r.String()), 0); err != nil {
		return fmt.Errorf("exit record: %w", err)
	}
	return nil
}

// checkOurs makes sure f is a regular file, empty or holding a record.
func checkOurs(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("exit record: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("exit record %s: %w: not a regular file", path, ErrNotRecord)
	}
	// Another name for someone's file, or a file of another user's
	// (planted in a shared directory), is not ours to write.
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && (st.Nlink != 1 || int(st.Uid) != os.Geteuid()) {
		return fmt.Errorf("exit record %s: %w: it has %d links and belongs to uid %d", path, ErrNotRecord, st.Nlink, st.Uid)
	}
	if fi.Size() == 0 {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return fmt.Errorf("exit record: %w", err)
	}
	if _, err := Parse(b); err != nil {
		return fmt.Errorf("exit record %s: %w; it is left as it is", path, err)
	}
	return nil
}

// Read returns the record of pidFile.
func Read(pidFile string) (Record, error) {
	f, err := os.OpenFile(Path(pidFile), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return Record{}, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return Record{}, fmt.Errorf("exit record %s: %w", Path(pidFile), ErrNotRecord)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return Record{}, err
	}
	return Parse(b)
}
