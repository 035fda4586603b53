package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"
)

// isTerminal reports whether w is a character device. A pipe or a file is
// not, so colours and progress lines never end up in what a script reads.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (a *app) paint(code, s string) string {
	if !a.colour {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (a *app) bold(s string) string { return a.paint("1", s) }

// ok prints wsk's success line, "ok: created action hello".
func (a *app) ok(format string, args ...any) {
	fmt.Fprintf(a.stdout, "%s %s\n", a.paint("32", "ok:"), fmt.Sprintf(format, args...))
}

// machine reports whether the user asked for json or yaml.
func (a *app) machine() bool { return a.g.output == "json" || a.g.output == "yaml" }

// emit prints a server answer: raw as JSON or YAML when asked for, else what
// human prints.
func (a *app) emit(raw []byte, human func(w io.Writer) error) error {
	switch a.g.output {
	case "json":
		return writeJSON(a.stdout, raw)
	case "yaml":
		return writeYAML(a.stdout, raw)
	}
	return human(a.stdout)
}

// emitValue is emit for values the CLI composes itself.
func (a *app) emitValue(v any, human func(w io.Writer) error) error {
	if !a.machine() {
		return human(a.stdout)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return a.emit(raw, human)
}

// writeJSON pretty-prints raw JSON with wsk's four-space indent, keeping the
// server's field order.
func writeJSON(w io.Writer, raw []byte) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "    "); err != nil {
		return fmt.Errorf("the server's answer is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// writeYAML converts raw JSON to block-style YAML, keeping the field order:
// JSON is YAML already, so the parsed node tree only needs its flow styles
// dropped. Strings keep their quotes where plain text would read as another
// type ("true", "42").
func writeYAML(w io.Writer, raw []byte) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("the server's answer is not JSON: %w", err)
	}
	var blockStyle func(n *yaml.Node)
	blockStyle = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
			n.Style = 0
		}
		if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && n.Style == yaml.DoubleQuotedStyle && !strings.ContainsAny(n.Value, "\n") {
			n.Style = 0
		}
		for _, c := range n.Content {
			blockStyle(c)
		}
	}
	blockStyle(&doc)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	return enc.Close()
}

// table writes aligned columns. Cells are plain text: escape codes would
// throw the alignment off.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer) *table {
	return &table{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// progress shows a spinner on stderr while a slow call runs. Nothing is drawn
// unless stderr is a terminal and the call has taken a second, so quick
// commands and scripts see no noise. stop clears the line.
func (a *app) progress(msg string) (stop func()) {
	if !a.stderrTTY {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		select {
		case <-done:
			return
		case <-time.After(time.Second):
		}
		frames := []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(a.stderr, "\r%c %s (%ds)", frames[i%len(frames)], msg, int(time.Since(start).Seconds()))
			select {
			case <-done:
				fmt.Fprint(a.stderr, "\r\x1b[K")
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

// prettyJSON indents a raw JSON value for human output.
func prettyJSON(raw []byte) string {
	var buf bytes.Buffer
	if len(bytes.TrimSpace(raw)) == 0 {
		return "{}"
	}
	if json.Indent(&buf, bytes.TrimSpace(raw), "", "    ") != nil {
		return string(raw)
	}
	return buf.String()
}

// wrapList joins items with commas into lines of at most width columns, each
// starting with indent, for help texts.
func wrapList(items []string, indent string, width int) string {
	var b strings.Builder
	line := indent
	for i, it := range items {
		word := it
		if i < len(items)-1 {
			word += ","
		}
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	b.WriteString(line)
	return b.String()
}

// emitField prints one top-level field of an entity's JSON, as wsk's get
// with a field name does; a field the entity lacks is null.
func (a *app) emitField(raw []byte, noun, name, field string) error {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	v, ok := doc[field]
	if !ok {
		v = json.RawMessage("null")
	}
	return a.emit(v, func(w io.Writer) error {
		a.ok("got %s %s, displaying field %s", noun, a.bold(name), a.bold(field))
		fmt.Fprintln(w, prettyJSON(v))
		return nil
	})
}
