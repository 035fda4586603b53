// Package cluster is what turns a controller and an invoker into members of
// a cluster that share nothing but PostgreSQL and NATS JetStream (DESIGN §2):
//
//   - Node: every process heartbeats on the bus every second and keeps a
//     table of the others (Members); one silent for OfflineAfter (10 s, as
//     OpenWhisk's invoker health) is offline.
//   - Client (controllers): implements controller.Invoker and
//     controller.Acceptor. It places each activation with scheduler.Place
//     over the invokers' table — the home invoker of the action, stepping
//     to the others when this controller's share of its memory is taken —
//     and publishes it durably to that invoker's subject, invoke.<id>. A
//     blocking caller waits for the completion the invoker sends once the
//     record is committed, and reads the store when none comes.
//   - Adopter (invokers): the healthy invoker with the smallest id also
//     consumes the subject of every invoker that is not healthy, through the
//     same durable consumer, so that work queued for a dead invoker runs
//     elsewhere.
//   - Caches (controllers): every entity write is broadcast; the other
//     controllers drop it from their caches and answer, and the write
//     returns once they all have (or a bounded wait has passed).
//   - Feed (controllers, invokers): activation records announced for
//     watchers of GET …/activations/stream, while someone watches.
//
// Broadcasts are at most once (natsbus.Cast); what must not be lost goes
// through the stream (work) or the store (records).
package cluster

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/gustfaas/gust/internal/bus"
)

// Roles of the members of a cluster.
const (
	RoleController = "controller"
	RoleInvoker    = "invoker"
)

// Broadcast subjects (natsbus.Cast).
const (
	subjectHeartbeat = "heartbeat" // every member, every second
	subjectCache     = "cache"     // entity writes (Invalidation)
	subjectRecords   = "records"   // activation records, while watched
	subjectStatus    = "status"    // `gust admin invokers` asks a controller for its table
)

// InvokeSubject is the durable subject of the work placed on invoker id.
func InvokeSubject(id string) string { return invokePrefix + id }

const invokePrefix = "invoke."

// completionName names the completion subjects of a member: controllers and
// invokers (which run compositions) may share a host name.
func completionName(role, id string) string { return role[:1] + "-" + id }

// DefaultID is the host name, made a valid subject token: letters, digits,
// '-' and '_' kept, anything else replaced by '-'. StatefulSet pods and
// compose services have stable host names, so a restarted invoker takes
// back its own queue.
func DefaultID() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "gust"
	}
	return SanitizeID(h)
}

// SanitizeID makes s usable as a member id (one NATS subject token, part of
// a consumer name).
func SanitizeID(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// ValidID reports whether id is usable as a member id as it is.
func ValidID(id string) bool { return id != "" && len(id) <= 128 && SanitizeID(id) == id }

// Bus is what the cluster needs of the bus beyond bus.Bus: broadcasts,
// completions and a look at the stream. *natsbus.Bus implements it.
type Bus interface {
	bus.Bus
	// Cast broadcasts to every process listening now, at most once.
	Cast(subject string, data []byte) error
	// Listen receives broadcasts; a non-nil return answers a Gather.
	Listen(subject string, handler func(data []byte) []byte) (bus.Subscription, error)
	// Gather broadcasts and collects up to want answers within wait.
	Gather(ctx context.Context, subject string, data []byte, want int, wait time.Duration) ([][]byte, error)
	// Completions receives the replies sent to CompletionSubject(name, …).
	Completions(name string, handler func(token string, data []byte)) (bus.Subscription, error)
	CompletionSubject(name, token string) string
	// Reply sends data to a completion subject.
	Reply(subject string, data []byte) error
	// MaxPayload is the largest message the bus carries.
	MaxPayload() int
	// OnConnectionChange is told when the connection drops and comes back.
	OnConnectionChange(f func(up bool))
	// SubjectCounts lists the subjects under subject.> holding work.
	SubjectCounts(ctx context.Context, subject string) (map[string]uint64, error)
	// DeleteConsumer removes the durable consumer of a subject.
	DeleteConsumer(ctx context.Context, subject string) error
}
