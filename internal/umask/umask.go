// Package umask parses a file mode creation mask as given on a command
// line or in a configuration file, the same way everywhere in daemonkit.
package umask

import (
	"fmt"
	"strconv"
	"strings"
)

// Parse parses an octal umask from 0 to 777: "022", "0027", "0" or, Go
// style, "0o027". Anything else (empty, a sign, a digit 8 or 9, more than
// 0777) is refused with an error that quotes s and says what is wanted.
func Parse(s string) (int, error) {
	digits := strings.TrimPrefix(s, "0o")
	n, err := strconv.ParseUint(digits, 8, 32)
	if err != nil || n > 0o777 || digits == "" {
		return 0, fmt.Errorf("umask %q: want an octal number from 000 to 777, such as 022 or 0027", s)
	}
	return int(n), nil
}
