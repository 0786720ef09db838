package readych

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseMessage: any datagram either parses into a message whose wire
// form is the datagram itself, of a known kind with a payload exactly when
// the kind takes one, or fails with ErrBadMessage; nothing panics.
func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{"READY", "ACK", "HELLO {}", "ERROR boom", "READY ", "ACK x", "HELLO", "ERROR",
		"", " ", "BOGUS", "ready", "READY\x00", "ERROR \xff\xfe", strings.Repeat("A", MaxMessage+1)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("ParseMessage(%q): error %v does not wrap ErrBadMessage", b, err)
			}
			if len(err.Error()) > 200 {
				t.Fatalf("ParseMessage(%q): error message of %d bytes echoes the input", b, len(err.Error()))
			}
			return
		}
		if len(b) > MaxMessage {
			t.Fatalf("ParseMessage accepted %d bytes, more than MaxMessage", len(b))
		}
		switch m.Kind {
		case Ready, Ack:
			if len(m.Payload) != 0 {
				t.Fatalf("%s with payload %q", m.Kind, m.Payload)
			}
		case Hello, Error:
			if len(m.Payload) == 0 {
				t.Fatalf("%s without payload", m.Kind)
			}
		default:
			t.Fatalf("ParseMessage(%q) returned unknown kind %q", b, m.Kind)
		}
		if !bytes.Equal(m.Encode(), b) {
			t.Fatalf("Encode(ParseMessage(%q)) = %q", b, m.Encode())
		}
	})
}

// TestParseMessageTable pins the cases the fuzz target's properties allow
// either way.
func TestParseMessageTable(t *testing.T) {
	good := map[string]Message{
		"READY":          {Kind: Ready},
		"ACK":            {Kind: Ack},
		"ERROR a b":      {Kind: Error, Payload: []byte("a b")},
		`HELLO {"x":1}`:  {Kind: Hello, Payload: []byte(`{"x":1}`)},
		"ERROR \x00\xff": {Kind: Error, Payload: []byte("\x00\xff")},
	}
	for in, want := range good {
		got, err := ParseMessage([]byte(in))
		if err != nil || got.Kind != want.Kind || !bytes.Equal(got.Payload, want.Payload) {
			t.Errorf("ParseMessage(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "READY ", "ACK x", "HELLO", "HELLO ", "ERROR", "ERROR ", "ready", " READY", "READY\n", "NOPE x",
		"ERROR " + strings.Repeat("x", MaxMessage)} {
		if m, err := ParseMessage([]byte(in)); !errors.Is(err, ErrBadMessage) {
			t.Errorf("ParseMessage(%.40q) = %+v, %v; want ErrBadMessage", in, m, err)
		}
	}
}

// FuzzParseHello: any payload either decodes into a HELLO that satisfies
// the checks (token, PID file path, umask in 0..0777, distinct non-empty
// file names) and survives a round trip through JSON, or fails with
// ErrBadMessage; nothing panics.
func FuzzParseHello(f *testing.F) {
	f.Add([]byte(`{"token":"0123456789abcdef0123456789abcdef","pid_file":"/run/x.pid","dev":1,"ino":2,"files":["a","b"],"umask":18}`))
	f.Add([]byte(`{"token":"t","pid_file":"p","umask":511}`))
	f.Add([]byte(`{"token":"t","pid_file":"p","umask":512}`))
	f.Add([]byte(`{"token":"t","pid_file":"p","umask":-1}`))
	f.Add([]byte(`{"token":"t","pid_file":"p","files":["a","a"]}`))
	f.Add([]byte(`{"token":"t","pid_file":"p","files":[""]}`))
	f.Add([]byte(`{"token":"t","pid_file":"p","extra":1}`))
	f.Add([]byte(`{"token":"t","pid_file":"p"} trailing`))
	f.Add([]byte(`{"token":"","pid_file":"p"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"dev":-1}`))
	f.Add([]byte(`{"ino":1e400}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHello(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("ParseHello(%q): error %v does not wrap ErrBadMessage", b, err)
			}
			return
		}
		if h.Token == "" || h.PIDFile == "" {
			t.Fatalf("ParseHello(%q) accepted %+v", b, h)
		}
		seen := map[string]bool{}
		for _, n := range h.Files {
			if n == "" || seen[n] {
				t.Fatalf("ParseHello(%q) accepted file names %q", b, h.Files)
			}
			seen[n] = true
		}
		again, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		h2, err := ParseHello(again)
		if err != nil {
			t.Fatalf("re-encoded hello %s does not parse: %v", again, err)
		}
		if !reflect.DeepEqual(normalise(h), normalise(h2)) {
			t.Fatalf("round trip changed %+v into %+v", h, h2)
		}
	})
}

func normalise(h HelloData) HelloData {
	if len(h.Files) == 0 {
		h.Files = nil
	}
	return h
}
