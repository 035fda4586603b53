package invoker

import (
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

// record is an activation record under construction.
type record struct {
	act *whisk.Activation
}

func (inv *Invoker) newRecord(msg *whisk.ActivationMessage) *record {
	a := msg.Action
	act := &whisk.Activation{
		Namespace:    msg.Identity.Namespace,
		Name:         msg.ActionFQN.Name,
		Version:      a.Version,
		Subject:      msg.Identity.Subject,
		ActivationID: msg.ActivationID,
		Cause:        msg.Cause,
		Logs:         []string{},
	}
	ann := make(whisk.KeyValues, 0, 8+len(msg.ExtraAnnotations))
	ann = ann.Set("limits", a.Limits)
	ann = ann.Set("path", msg.ActionFQN.PathName())
	ann = ann.Set("kind", a.Exec.Kind)
	ann = ann.Set("timeout", false)
	ann = append(ann, msg.ExtraAnnotations...)
	act.Annotations = ann
	return &record{act: act}
}

func (r *record) annotate(key string, value any) {
	r.act.Annotations = r.act.Annotations.Set(key, value)
}

func (r *record) annotateTimeout(timedOut bool) {
	if timedOut {
		r.annotate("timeout", true)
	}
}

// finish stamps the end and the response. Duration is end minus start in
// whole milliseconds, as OpenWhisk meters it; an activation that never
// started (Start 0) is stamped as starting when it ended.
func (r *record) finish(end time.Time, resp whisk.Response) {
	r.act.End = end.UnixMilli()
	if r.act.Start == 0 {
		r.act.Start = r.act.End
	}
	r.act.Duration = r.act.End - r.act.Start
	r.act.Response = resp
	r.act.StatusCode = int(resp.StatusCode)
}
