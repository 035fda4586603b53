//go:build !linux

package linux

import (
	"context"

	"github.com/gustfaas/gust/internal/sandbox"
)

// Available reports why the driver cannot run here: it needs Linux.
func Available() error { return ErrUnsupported }

// MaybeRunInit does nothing outside Linux: there is no sandbox init role.
func MaybeRunInit() {}

// Driver exists so that callers compile everywhere; New always fails.
type Driver struct{}

// New fails outside Linux.
func New(Config) (*Driver, error) { return nil, ErrUnsupported }

func (*Driver) Name() string                       { return "linux" }
func (*Driver) Capabilities() sandbox.Capabilities { return sandbox.Capabilities{} }
func (*Driver) Close() error                       { return nil }
func (*Driver) Start(context.Context, sandbox.Spec) (sandbox.Sandbox, error) {
	return nil, ErrUnsupported
}

// Egress reports that egress is not available.
func (*Driver) Egress() error { return ErrUnsupported }
