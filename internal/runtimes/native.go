package runtimes

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gustfaas/gust/internal/whisk"
)

// nativeImages are the OpenWhisk images whose actions Gust runs without the
// image: their code is an executable speaking the action loop. Any other
// image is a container Gust cannot run.
var nativeImages = []string{
	"openwhisk/dockerskeleton",
	"openwhisk/actionloop",
	"openwhisk/actionloop-v2",
	"openwhisk/actionloop-base",
}

// native runs `blackbox` actions of the dockerskeleton/actionloop kind: an
// executable (ELF or #! script), alone or as `exec` at the root of a zip,
// that reads requests on stdin and writes results on fd 3, as
// openwhisk-runtime-go's proxy drives it. Such executables print no
// sentinels; the sandbox adds them. They are not asked for an ack: a generic
// executable does not send one (OpenWhisk sets OW_WAIT_FOR_ACK only in
// runtimes whose every action acks).
type native struct {
	readOnly []string
}

func newNative() *native {
	// Scripts use the host's tools.
	return &native{readOnly: readOnlyPaths("/bin", "/usr/bin", "/usr/local/bin", "/usr/share")}
}

func (n *native) Kind() string              { return whisk.KindBlackbox }
func (n *native) Family() string            { return whisk.KindBlackbox }
func (n *native) Image() string             { return nativeImages[0] }
func (n *native) StemCell() bool            { return false }
func (n *native) SupportsConcurrency() bool { return false }

func (n *native) InitLine(*whisk.Exec, string, map[string]string) []byte { return nil }

func (n *native) Command(prepared string, initEnv map[string]string) Command {
	if prepared == "" {
		return Command{}
	}
	return Command{
		Argv:          []string{filepath.Join(prepared, "exec")},
		Env:           buildEnv(baseEnv, initEnv),
		Dir:           prepared,
		ReadOnlyPaths: append(slices.Clone(n.readOnly), prepared),
		NoSentinels:   true,
	}
}

// Prepare writes the executable as dir/exec, with the rest of a zip's files
// around it.
func (n *native) Prepare(ctx context.Context, e *whisk.Exec, dir string) error {
	if err := validateNative(e); err != nil {
		return err
	}
	code := e.CodeString()
	data := []byte(code)
	if e.Binary {
		var err error
		if data, err = decodeBinary(code); err != nil {
			return err
		}
	}
	if !isZip(data) {
		if !isELF(data) && !isScript(data) {
			return whisk.BadRequest("The native action's code must be a zip with an exec file, an executable or a script starting with #!.")
		}
		return writeExec(filepath.Join(dir, "exec"), data)
	}
	if err := unzip(data, dir); err != nil {
		return err
	}
	p := filepath.Join(dir, "exec")
	b, err := os.ReadFile(p)
	if err != nil {
		return whisk.BadRequest("The native action's zip has no exec file at its root.")
	}
	if !isELF(b) && !isScript(b) {
		return whisk.BadRequest("The native action's exec must be an executable or a script starting with #!.")
	}
	return os.Chmod(p, 0o755)
}

func validateNative(e *whisk.Exec) error {
	if !isNativeImage(e.Image) {
		return whisk.BadRequest("The image '%s' is not supported: Gust runs native actions only (image %s with an exec in the code), not container images.", e.Image, nativeImages[0])
	}
	if strings.TrimSpace(e.CodeString()) == "" {
		return whisk.BadRequest("A native action needs code: a zip with an exec file, an executable or a script.")
	}
	return nil
}

// isNativeImage accepts the native images with any registry host and tag:
// "openwhisk/dockerskeleton", "docker.io/openwhisk/dockerskeleton:1.14.0".
func isNativeImage(image string) bool {
	name := strings.ToLower(strings.TrimSpace(image))
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name = name[:i]
	}
	if name == "" {
		return true // a blackbox without image is the skeleton
	}
	for _, img := range nativeImages {
		if name == img || strings.HasSuffix(name, "/"+img) {
			return true
		}
	}
	return false
}
