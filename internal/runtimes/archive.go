package runtimes

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gustfaas/gust/internal/whisk"
)

// maxUnzipped bounds what an action archive may expand to: the code itself
// is at most 48 MB, but deflate reaches ratios of a thousand.
const maxUnzipped = 1 << 30

// decodeBinary decodes base64 action code.
func decodeBinary(code string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(code))
	if err != nil {
		return nil, whisk.BadRequest("The action's code is marked binary but is not valid base64.")
	}
	return b, nil
}

func isZip(b []byte) bool {
	return bytes.HasPrefix(b, []byte("PK\x03\x04")) || bytes.HasPrefix(b, []byte("PK\x05\x06"))
}

func isELF(b []byte) bool { return bytes.HasPrefix(b, []byte("\x7fELF")) }

func isScript(b []byte) bool { return bytes.HasPrefix(b, []byte("#!")) }

// unzip extracts an action archive into dst. Entries that would land outside
// dst and symbolic links are refused or skipped: an archive is user input.
func unzip(data []byte, dst string) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return whisk.BadRequest("There was an error uncompressing the action archive: %v", err)
	}
	var total uint64
	for _, f := range zr.File {
		total += f.UncompressedSize64
		if total > maxUnzipped {
			return whisk.BadRequest("The action archive is too large once uncompressed.")
		}
	}
	for _, f := range zr.File {
		name := filepath.FromSlash(f.Name)
		if !filepath.IsLocal(name) {
			return whisk.BadRequest("The action archive has an entry outside its root: %s", f.Name)
		}
		mode := f.Mode()
		if mode&os.ModeSymlink != 0 {
			continue
		}
		target := filepath.Join(dst, name)
		if mode.IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := extractFile(f, target, mode.Perm()|0o600); err != nil {
			return err
		}
	}
	return nil
}

func extractFile(f *zip.File, target string, perm os.FileMode) error {
	rc, err := f.Open()
	if err != nil {
		return whisk.BadRequest("There was an error uncompressing the action archive: %s: %v", f.Name, err)
	}
	defer rc.Close()
	out, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	// The header's size is what was checked against maxUnzipped; a stream
	// that inflates to more is lying.
	n, err := io.Copy(out, io.LimitReader(rc, int64(f.UncompressedSize64)+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return whisk.BadRequest("There was an error uncompressing the action archive: %s: %v", f.Name, err)
	}
	if uint64(n) != f.UncompressedSize64 {
		return whisk.BadRequest("There was an error uncompressing the action archive: %s: wrong size", f.Name)
	}
	return nil
}

// writeExec writes an executable to path.
func writeExec(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return os.Chmod(path, 0o755)
}
