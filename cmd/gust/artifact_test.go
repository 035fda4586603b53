package main

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestGuessKind(t *testing.T) {
	cases := []struct{ file, kind, err string }{
		{file: "hello.js", kind: "nodejs:default"},
		{file: "dir/hello.py", kind: "python:default"},
		{file: "main.go", kind: "go:default"},
		{file: "Hello.JAVA", kind: "java:default"},
		{file: "app.jar", kind: "java:default"},
		{file: "hello.swift", kind: "swift:default"},
		{file: "hello.php", kind: "php:default"},
		{file: "hello.rb", kind: "ruby:default"},
		{file: "hello.rs", kind: "rust:default"},
		{file: "code.zip", err: "creating an action from a .zip archive requires --kind (e.g. --kind nodejs:default), --native or --docker"},
		{file: "exec", err: `cannot tell the kind of "exec" without a file extension; give --kind (e.g. --kind python:default) or --native`},
		{file: "hello.ts", err: `".ts" is not a supported action runtime; give --kind`},
	}
	for _, tc := range cases {
		kind, err := guessKind(tc.file)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("guessKind(%q) error = %v, want %q", tc.file, err, tc.err)
		case tc.err == "" && (err != nil || kind != tc.kind):
			t.Errorf("guessKind(%q) = %q, %v, want %q", tc.file, kind, err, tc.kind)
		}
	}
}

func mkTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if filepath.Base(name) == "exec" {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestZipDir(t *testing.T) {
	dir := mkTree(t, map[string]string{
		"package.json":    `{"main":"index.js"}`,
		"index.js":        "exports.main = () => ({})",
		"lib/b.js":        "b",
		"lib/a.js":        "a",
		"bin/exec":        "#!/bin/sh\n",
		"z/deep/file.txt": "deep",
	})
	if err := os.Symlink(filepath.Join(dir, "lib", "a.js"), filepath.Join(dir, "link.js")); err != nil {
		t.Fatal(err)
	}
	first, err := zipDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Deterministic: the same tree zips to the same bytes, whatever the
	// files' times.
	later := filepath.Join(dir, "index.js")
	if err := os.Chtimes(later, zipEpoch.AddDate(30, 0, 0), zipEpoch.AddDate(30, 0, 0)); err != nil {
		t.Fatal(err)
	}
	second, err := zipDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Fatal("zipping the same tree twice gave different bytes")
	}
	zr, err := zip.NewReader(bytes.NewReader(first), int64(len(first)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Name == "bin/exec" && f.Mode().Perm() != 0o755 {
			t.Errorf("exec lost its executable bit: %v", f.Mode())
		}
		if f.Name == "link.js" {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			if string(b) != "a" {
				t.Errorf("link.js holds %q, want the linked file", b)
			}
		}
	}
	want := []string{"bin/exec", "index.js", "lib/a.js", "lib/b.js", "link.js", "package.json", "z/deep/file.txt"}
	if len(names) != len(want) {
		t.Fatalf("entries %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("entries %v, want %v (sorted)", names, want)
		}
	}
	if _, err := zipDir(t.TempDir()); err == nil {
		t.Fatal("an empty directory zipped")
	}
}

func TestReadArtifact(t *testing.T) {
	dir := mkTree(t, map[string]string{
		"hello.js":        "function main() { return {}; }",
		"app/__main__.py": "def main(a): return a",
	})
	src, err := readArtifact(filepath.Join(dir, "hello.js"))
	if err != nil {
		t.Fatal(err)
	}
	if src.binary || src.kind != "nodejs:default" || src.code != "function main() { return {}; }" {
		t.Fatalf("source file: %+v", src)
	}
	bin := filepath.Join(dir, "tool")
	if err := os.WriteFile(bin, []byte{0x7f, 'E', 'L', 'F', 0, 1}, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := readArtifact(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !b.binary || b.code != base64.StdEncoding.EncodeToString([]byte{0x7f, 'E', 'L', 'F', 0, 1}) || b.guess == nil {
		t.Fatalf("binary file: %+v", b)
	}
	d, err := readArtifact(filepath.Join(dir, "app"))
	if err != nil {
		t.Fatal(err)
	}
	if !d.binary || d.kind != "python:default" {
		t.Fatalf("directory: binary %v kind %q guess %v", d.binary, d.kind, d.guess)
	}
	if _, err := base64.StdEncoding.DecodeString(d.code); err != nil {
		t.Fatalf("directory code is not base64: %v", err)
	}
}

func TestGuessDirKind(t *testing.T) {
	if _, err := guessDirKind(mkTree(t, map[string]string{"x.txt": ""})); err == nil {
		t.Error("guessed a kind without markers")
	}
	dir := mkTree(t, map[string]string{"package.json": "{}", "go.mod": "module x"})
	if _, err := guessDirKind(dir); err == nil || err.Error() != `directory "`+dir+`" has package.json and go.mod: give --kind` {
		t.Errorf("ambiguous: %v", err)
	}
}

func TestExtForKind(t *testing.T) {
	cases := []struct {
		kind   string
		binary bool
		want   string
	}{
		{"nodejs:20", false, ".js"}, {"python:3.11", false, ".py"}, {"go:1.22", false, ".go"},
		{"java:8", false, ".java"}, {"java:8", true, ".jar"}, {"nodejs:20", true, ".zip"}, {"blackbox", false, ""},
	}
	for _, tc := range cases {
		if got := extForKind(tc.kind, tc.binary); got != tc.want {
			t.Errorf("extForKind(%q, %v) = %q, want %q", tc.kind, tc.binary, got, tc.want)
		}
	}
}
