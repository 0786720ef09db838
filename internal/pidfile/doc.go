// Package pidfile parses PID file content the way the locking protocol
// defines it (see docs/protocol.md): empty, "(starting)\n" or "<pid>\n",
// anything else being invalid. The public lockfile package builds on it;
// daemonkit's controllers use it to classify content they have read.
package pidfile
