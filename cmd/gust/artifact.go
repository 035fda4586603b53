package main

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// kindByExt is wsk's table of default kinds by file extension.
var kindByExt = map[string]string{
	".js":    "nodejs:default",
	".py":    "python:default",
	".go":    "go:default",
	".swift": "swift:default",
	".java":  "java:default",
	".jar":   "java:default",
	".php":   "php:default",
	".rb":    "ruby:default",
	".rs":    "rust:default",
	".balx":  "ballerina:default",
}

// binaryExts are archives that are always sent base64-encoded, as wsk does.
var binaryExts = map[string]bool{".zip": true, ".jar": true, ".balx": true}

// guessKind picks a kind from a file's extension as wsk does. Archives say
// nothing about their language, so they need --kind (or --native/--docker).
func guessKind(path string) (string, error) {
	ext := strings.ToLower(filepath.Ext(path))
	if k, ok := kindByExt[ext]; ok {
		return k, nil
	}
	if ext == ".zip" {
		return "", errors.New("creating an action from a .zip archive requires --kind (e.g. --kind nodejs:default), --native or --docker")
	}
	if ext == "" {
		return "", fmt.Errorf("cannot tell the kind of %q without a file extension; give --kind (e.g. --kind python:default) or --native", path)
	}
	return "", fmt.Errorf("%q is not a supported action runtime; give --kind", ext)
}

// dirMarkers guess a directory's kind from files only one runtime uses.
var dirMarkers = []struct{ file, kind string }{
	{"package.json", "nodejs:default"},
	{"__main__.py", "python:default"},
	{"go.mod", "go:default"},
}

// guessDirKind guesses a directory's kind from unambiguous markers.
func guessDirKind(dir string) (string, error) {
	var found []string
	kind := ""
	for _, m := range dirMarkers {
		if _, err := os.Stat(filepath.Join(dir, m.file)); err == nil {
			found = append(found, m.file)
			kind = m.kind
		}
	}
	switch len(found) {
	case 1:
		return kind, nil
	case 0:
		return "", fmt.Errorf("cannot tell the kind of directory %q (no package.json, __main__.py or go.mod); give --kind, --native or --docker", dir)
	}
	return "", fmt.Errorf("directory %q has %s: give --kind", dir, strings.Join(found, " and "))
}

// artifact is an action's code as it is sent.
type artifact struct {
	code   string
	binary bool   // code is base64
	kind   string // guessed; "" when it cannot be
	guess  error  // why the kind could not be guessed
}

// readArtifact reads a code file or zips a directory. Archives and files that
// are not UTF-8 text (compiled executables) are base64-encoded.
func readArtifact(path string) (*artifact, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		data, err := zipDir(path)
		if err != nil {
			return nil, fmt.Errorf("zip %s: %w", path, err)
		}
		kind, gerr := guessDirKind(path)
		return &artifact{code: base64.StdEncoding.EncodeToString(data), binary: true, kind: kind, guess: gerr}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	kind, gerr := guessKind(path)
	a := &artifact{kind: kind, guess: gerr}
	if binaryExts[strings.ToLower(filepath.Ext(path))] || !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		a.code, a.binary = base64.StdEncoding.EncodeToString(data), true
	} else {
		a.code = string(data)
	}
	return a, nil
}

// zipEpoch is the time stamp of every zipped file, so that zipping the same
// tree twice gives the same bytes (and the server's code cache a hit).
var zipEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// zipDir zips a directory tree in memory: paths relative to dir, sorted,
// fixed time stamps, executable bits kept (a native action's exec needs its).
// Symbolic links to files are stored as the files they point to; other
// special files are skipped.
func zipDir(dir string) ([]byte, error) {
	type entry struct {
		name string
		path string
		mode fs.FileMode
	}
	var entries []entry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir || d.IsDir() {
			return nil
		}
		fi, err := os.Stat(p) // follows a link
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		entries = append(entries, entry{name: filepath.ToSlash(rel), path: p, mode: fi.Mode()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, errors.New("the directory has no files")
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: zipEpoch}
		mode := fs.FileMode(0o644)
		if e.mode&0o111 != 0 {
			mode = 0o755
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		data, err := os.ReadFile(e.path)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// extForKind is the file extension `action get --save` gives source code.
func extForKind(kind string, binary bool) string {
	family, _, _ := strings.Cut(kind, ":")
	if binary {
		switch family {
		case "java":
			return ".jar"
		case "ballerina":
			return ".balx"
		}
		return ".zip"
	}
	for ext, k := range kindByExt {
		if f, _, _ := strings.Cut(k, ":"); f == family && ext != ".jar" && ext != ".balx" {
			return ext
		}
	}
	return ""
}
