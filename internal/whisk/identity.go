package whisk

// NamespaceLimits are a namespace's throttles. A nil field means "the server's
// default"; 0 means unlimited.
type NamespaceLimits struct {
	InvocationsPerMinute  *int `json:"invocationsPerMinute,omitempty"`
	ConcurrentInvocations *int `json:"concurrentInvocations,omitempty"`
	FiresPerMinute        *int `json:"firesPerMinute,omitempty"`
}

// Identity is the authenticated caller: the owner of one namespace.
type Identity struct {
	Subject   string          `json:"subject"`
	Namespace string          `json:"namespace"`
	UUID      string          `json:"uuid"`
	Limits    NamespaceLimits `json:"limits"`
}

// SystemNamespace holds the published catalog packages.
const SystemNamespace = "whisk.system"
