package sandbox

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type line struct {
	text          string
	cut, sentinel bool
}

func readAll(t testing.TB, r io.Reader, max int) []line {
	t.Helper()
	lr := newLineReader(r, max)
	var out []line
	for {
		l, cut, sentinel, err := lr.next(true)
		if err == nil || len(l) > 0 || sentinel {
			out = append(out, line{string(l), cut, sentinel})
		}
		if err != nil {
			return out
		}
	}
}

func TestLineReader(t *testing.T) {
	big := strings.Repeat("x", 10000)
	for _, c := range []struct {
		name string
		in   string
		max  int
		want []line
	}{
		{"plain", "a\nbb\n\nccc", 100, []line{{"a", false, false}, {"bb", false, false}, {"", false, false}, {"ccc", false, false}}},
		{"sentinel", "log\n" + Sentinel + "\n", 100, []line{{"log", false, false}, {"", false, true}}},
		{"sentinel after text", "no newline" + Sentinel + "\n", 100, []line{{"no newline", false, true}}},
		{"cut", big + "\nnext\n", 100, []line{{big[:100], true, false}, {"next", false, false}}},
		{"cut long line ending in sentinel", big + Sentinel + "\nnext\n", 100, []line{{big[:100], true, true}, {"next", false, false}}},
		{"long line kept", big + Sentinel + "\n", 20000, []line{{big, false, true}}},
		{"cut inside the sentinel", big[:90] + Sentinel + "\n", 100, []line{{big[:90], true, true}}},
		{"sentinel alone in a long line", strings.Repeat(Sentinel, 200) + "\n", 1 << 20, []line{{strings.Repeat(Sentinel, 199), false, true}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(c.in), iotest.OneByteReader(strings.NewReader(c.in))} {
				got := readAll(t, r, c.max)
				if len(got) != len(c.want) {
					t.Fatalf("got %d lines %v, want %d", len(got), got, len(c.want))
				}
				for i := range got {
					if got[i] != c.want[i] {
						t.Errorf("line %d = {%.20q… cut=%v sentinel=%v}, want {%.20q… cut=%v sentinel=%v}", i,
							got[i].text, got[i].cut, got[i].sentinel, c.want[i].text, c.want[i].cut, c.want[i].sentinel)
					}
				}
			}
		})
	}
}

// FuzzLineReader checks the reader against a plain split: every line is the
// input's line, cut to the bound, without a trailing sentinel.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("a\nb\n"), 3)
	f.Add([]byte("x"+Sentinel+"\n"+Sentinel), 10)
	f.Add(bytes.Repeat([]byte("y"), 9000), 5000)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		if max <= 0 || max > 1<<16 {
			return
		}
		got := readAll(t, bytes.NewReader(in), max)
		parts := bytes.Split(in, []byte("\n"))
		if len(parts[len(parts)-1]) == 0 {
			parts = parts[:len(parts)-1]
		}
		if len(got) != len(parts) {
			t.Fatalf("%d lines, want %d", len(got), len(parts))
		}
		for i, p := range parts {
			sentinel := bytes.HasSuffix(p, []byte(Sentinel))
			if sentinel {
				p = p[:len(p)-len(Sentinel)]
			}
			cut := len(p) > max || sentinel && len(p)+len(Sentinel) > max
			if len(p) > max {
				p = p[:max]
			}
			if got[i].text != string(p) || got[i].sentinel != sentinel || got[i].cut != cut {
				t.Fatalf("line %d = %+v, want %q cut=%v sentinel=%v", i, got[i], p, cut, sentinel)
			}
		}
	})
}

func TestSplitKey(t *testing.T) {
	for in, want := range map[string][2]string{
		"abc123\t{\"a\":1}": {"abc123", "{\"a\":1}"},
		"{\"a\":\"x\ty\"}":  {"", "{\"a\":\"x\ty\"}"},
		"[1]":               {"", "[1]"},
		"not json":          {"", "not json"},
		"bad id!\t{}":       {"", "bad id!\t{}"},
		"\t{}":              {"", "\t{}"},
		"a-b_c\tgarbage":    {"a-b_c", "garbage"},
	} {
		k, rest := splitKey([]byte(in))
		if k != want[0] || string(rest) != want[1] {
			t.Errorf("splitKey(%q) = %q, %q; want %q, %q", in, k, rest, want[0], want[1])
		}
	}
}
