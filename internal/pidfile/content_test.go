package pidfile

import (
	"bytes"
	"errors"
	"math/big"
	"os"
	"strconv"
	"strings"
	"testing"
)

// refParsePID is an independent oracle for ParsePID: the documented rule
// written as plainly as possible, with arbitrary-precision arithmetic so
// that it cannot overflow.
func refParsePID(b []byte, pidMax int) (int, bool) {
	if pidMax <= 0 {
		pidMax = DefaultPIDMax
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" || s[0] == '0' {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Cmp(big.NewInt(1)) <= 0 || n.Cmp(big.NewInt(int64(pidMax))) > 0 {
		return 0, false
	}
	return int(n.Int64()), true
}

func TestParsePID(t *testing.T) {
	self := os.Getpid()
	pidMax := PIDMax()
	tests := []struct {
		name   string
		in     string
		pidMax int
		want   int // 0: must be rejected
	}{
		{"zero", "0", 0, 0},
		{"zero newline", "0\n", 0, 0},
		{"minus one", "-1", 0, 0},
		{"minus two", "-2", 0, 0},
		{"init", "1", 0, 0},
		{"init newline", "1\n", 0, 0},
		{"two", "2", 0, 2},
		{"two newline", "2\n", 0, 2},
		{"own pid parses", strconv.Itoa(self) + "\n", pidMax, self},
		{"eleven digits", "99999999999", 0, 0},
		{"ten digits", "9999999999", 0, 0},
		{"twenty digits", "99999999999999999999", 0, 0},
		{"int64 overflow", "9223372036854775808", 0, 0},
		{"trailing garbage", "12abc", 0, 0},
		{"leading space", " 12", 0, 0},
		{"trailing space", "12 ", 0, 0},
		{"two newlines", "12\n\n", 0, 0},
		{"crlf", "12\r\n", 0, 0},
		{"leading newline", "\n12", 0, 0},
		{"leading zero", "012", 0, 0},
		{"plus sign", "+12", 0, 0},
		{"empty", "", 0, 0},
		{"only newline", "\n", 0, 0},
		{"NUL", "\x00", 0, 0},
		{"NUL after digits", "12\x00", 0, 0},
		{"NUL before newline", "12\x00\n", 0, 0},
		{"digits NUL digits", "1\x002", 0, 0},
		{"hex", "0x1f", 0, 0},
		{"underscore", "1_000", 0, 0},
		{"unicode digit", "١٢", 0, 0},
		{"starting", StartingContent, 0, 0},
		{"pid_max", strconv.Itoa(pidMax) + "\n", pidMax, pidMax},
		{"pid_max+1", strconv.Itoa(pidMax+1) + "\n", pidMax, 0},
		{"default max", strconv.Itoa(DefaultPIDMax), 0, DefaultPIDMax},
		{"default max+1", strconv.Itoa(DefaultPIDMax + 1), 0, 0},
		{"negative pidMax means default", strconv.Itoa(DefaultPIDMax), -5, DefaultPIDMax},
		{"small max", "100", 99, 0},
		{"small max ok", "99", 99, 99},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePID([]byte(tt.in), tt.pidMax)
			if tt.want == 0 {
				if err == nil {
					t.Fatalf("ParsePID(%q, %d) = %d, want an error", tt.in, tt.pidMax, got)
				}
				if !errors.Is(err, ErrInvalidPID) {
					t.Fatalf("ParsePID(%q): error %v does not wrap ErrInvalidPID", tt.in, err)
				}
				if got != 0 {
					t.Fatalf("ParsePID(%q) returned pid %d with error %v", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParsePID(%q, %d) = %d, %v; want %d, nil", tt.in, tt.pidMax, got, err, tt.want)
			}
		})
	}
}

func TestParseContent(t *testing.T) {
	pidMax := PIDMax()
	mib := bytes.Repeat([]byte("1"), 1<<20)
	tests := []struct {
		name    string
		in      []byte
		want    Content
		wantPID int
	}{
		{"empty", nil, ContentEmpty, 0},
		{"empty slice", []byte{}, ContentEmpty, 0},
		{"starting", []byte("(starting)\n"), ContentStarting, 0},
		{"starting without newline", []byte("(starting)"), ContentInvalid, 0},
		{"starting twice", []byte("(starting)\n(starting)\n"), ContentInvalid, 0},
		{"starting upper", []byte("(STARTING)\n"), ContentInvalid, 0},
		{"pid", []byte("4242\n"), ContentPID, 4242},
		{"pid without newline", []byte("4242"), ContentPID, 4242},
		{"pid_max", []byte(strconv.Itoa(pidMax) + "\n"), ContentPID, pidMax},
		{"pid_max+1", []byte(strconv.Itoa(pidMax+1) + "\n"), ContentInvalid, 0},
		{"zero", []byte("0\n"), ContentInvalid, 0},
		{"minus one", []byte("-1\n"), ContentInvalid, 0},
		{"one", []byte("1\n"), ContentInvalid, 0},
		{"only newline", []byte("\n"), ContentInvalid, 0},
		{"NULs", []byte("\x00\x00\x00\x00"), ContentInvalid, 0},
		{"garbage", []byte("hello\n"), ContentInvalid, 0},
		{"32 bytes", []byte(strings.Repeat("1", 32)), ContentInvalid, 0},
		{"33 bytes", []byte(strings.Repeat("1", 33)), ContentInvalid, 0},
		{"1 MiB of digits", mib, ContentInvalid, 0},
		{"pid padded with zeros to 32", []byte(strings.Repeat("0", 27) + "4242\n"), ContentInvalid, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, pid, err := ParseContent(tt.in, pidMax)
			if c != tt.want || pid != tt.wantPID {
				t.Fatalf("ParseContent(%.40q) = %v, %d, %v; want %v, %d", tt.in, c, pid, err, tt.want, tt.wantPID)
			}
			if (c == ContentInvalid) != (err != nil) {
				t.Fatalf("ParseContent(%.40q) = %v with error %v: an error must come with ContentInvalid only", tt.in, c, err)
			}
			if err != nil && !errors.Is(err, ErrInvalidPID) {
				t.Fatalf("ParseContent(%.40q): error %v does not wrap ErrInvalidPID", tt.in, err)
			}
			if err != nil && len(err.Error()) > 200 {
				t.Fatalf("ParseContent: error message is %d bytes long; huge content must not be echoed: %.80s...", len(err.Error()), err)
			}
		})
	}
}

func FuzzParsePID(f *testing.F) {
	for _, s := range []string{
		"0", "-1", "-2", "1", "2", "2\n", "12", "12\n", "99999999999", "9999999999",
		"12abc", " 12", "12 ", "12\n\n", "012", "+12", "", "\n", "\x00", "12\x00",
		"(starting)\n", "(starting)", "4194304", "4194305", "32768\n", "32769\n",
		"9223372036854775807", "18446744073709551616", "١٢",
	} {
		f.Add([]byte(s), 0)
		f.Add([]byte(s), 32768)
	}
	f.Add([]byte("100"), 99)
	f.Add([]byte("5"), -1)
	f.Add([]byte("5"), 1)
	f.Fuzz(func(t *testing.T, b []byte, pidMax int) {
		pid, err := ParsePID(b, pidMax)
		max := pidMax
		if max <= 0 {
			max = DefaultPIDMax
		}
		refPID, refOK := refParsePID(b, pidMax)
		if err != nil {
			if !errors.Is(err, ErrInvalidPID) {
				t.Fatalf("ParsePID(%q, %d): error %v does not wrap ErrInvalidPID", b, pidMax, err)
			}
			if pid != 0 {
				t.Fatalf("ParsePID(%q, %d) returned pid %d with an error", b, pidMax, pid)
			}
			if refOK {
				t.Fatalf("ParsePID(%q, %d) rejected a valid pid %d: %v", b, pidMax, refPID, err)
			}
			return
		}
		if pid < 2 || pid > max {
			t.Fatalf("ParsePID(%q, %d) = %d, outside 2..%d", b, pidMax, pid, max)
		}
		if got, want := strconv.Itoa(pid), strings.TrimSuffix(string(b), "\n"); got != want {
			t.Fatalf("ParsePID(%q, %d) = %d, which formats as %q, not as the input digits %q", b, pidMax, pid, got, want)
		}
		if !refOK || refPID != pid {
			t.Fatalf("ParsePID(%q, %d) = %d, oracle says %d, %v", b, pidMax, pid, refPID, refOK)
		}
	})
}

func FuzzParseContent(f *testing.F) {
	for _, s := range []string{
		"", "\n", "(starting)\n", "(starting)", "0\n", "1\n", "2\n", "4242\n", "4242",
		"-1\n", "012\n", "12\n\n", "\x00\x00", strings.Repeat("1", 32), strings.Repeat("1", 33),
		strings.Repeat("9", 200), "(starting)\n\n", "32768\n", "32769\n",
	} {
		f.Add([]byte(s), 0)
		f.Add([]byte(s), 32768)
	}
	f.Fuzz(func(t *testing.T, b []byte, pidMax int) {
		c, pid, err := ParseContent(b, pidMax)
		ppid, perr := ParsePID(b, pidMax)
		switch c {
		case ContentEmpty:
			if len(b) != 0 || err != nil || pid != 0 {
				t.Fatalf("ParseContent(%q) = empty, %d, %v", b, pid, err)
			}
		case ContentStarting:
			if string(b) != StartingContent || err != nil || pid != 0 {
				t.Fatalf("ParseContent(%q) = starting, %d, %v", b, pid, err)
			}
		case ContentPID:
			if err != nil || perr != nil || pid != ppid || len(b) > MaxContent {
				t.Fatalf("ParseContent(%q) = pid %d, %v; ParsePID = %d, %v", b, pid, err, ppid, perr)
			}
		case ContentInvalid:
			if err == nil || !errors.Is(err, ErrInvalidPID) || pid != 0 {
				t.Fatalf("ParseContent(%q) = invalid, %d, %v", b, pid, err)
			}
			if len(b) == 0 || string(b) == StartingContent {
				t.Fatalf("ParseContent(%q) = invalid for valid content", b)
			}
			if perr == nil && len(b) <= MaxContent {
				t.Fatalf("ParseContent(%q) = invalid, but ParsePID accepts it as %d", b, ppid)
			}
		default:
			t.Fatalf("ParseContent(%q) returned unknown Content %d", b, c)
		}
		if len(b) > 0 && string(b) != StartingContent && (perr == nil) != (c == ContentPID) && len(b) <= MaxContent {
			t.Fatalf("ParseContent(%q) = %v but ParsePID error is %v", b, c, perr)
		}
	})
}

func TestPIDMax(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Skipf("no /proc/sys/kernel/pid_max: %v", err)
	}
	want, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil {
		t.Fatal(err)
	}
	if got := PIDMax(); got != want {
		t.Fatalf("PIDMax() = %d, /proc says %d", got, want)
	}
}
