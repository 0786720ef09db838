package umask

import (
	"fmt"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParse(t *testing.T) {
	for s, want := range map[string]int{"022": 0o22, "0027": 0o27, "0": 0, "777": 0o777, "0o027": 0o27, "0o0": 0, "00000077": 0o77} {
		if got, err := Parse(s); err != nil || got != want {
			t.Errorf("Parse(%q) = %o, %v; want %o", s, got, err, want)
		}
	}
	for _, s := range []string{"", "0o", "8", "1000", "-1", "+22", "abc", "0x22", "22 ", "0O22", "0o0o2"} {
		if got, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %o, accepted", s, got)
		}
	}
}

func ExampleParse() {
	m, err := Parse("027")
	fmt.Printf("%04o %v\n", m, err)
	_, err = Parse("999")
	fmt.Println(err)
	// Output:
	// 0027 <nil>
	// umask "999": want an octal number from 000 to 777, such as 022 or 0027
}
