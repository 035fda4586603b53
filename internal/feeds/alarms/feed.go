package alarms

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// The feed actions: CREATE, READ, UPDATE and DELETE as clients send them
// (spec §8), plus PAUSE and UNPAUSE, with the alarms service's validation
// and messages. Results are what its web action answers: {"status":
// "success"}, READ's {config, status}, or {"error": ...} as an application
// error, which makes wsk delete a trigger it just created.

// Messages of the alarms service, verbatim.
const (
	msgNoTriggerName    = "no trigger name parameter was provided"
	msgAuthFailed       = "Trigger authentication request failed."
	msgUnsupportedEvent = "unsupported lifecycleEvent"
	msgMissingDate      = "alarms once trigger feed is missing the date parameter"
	msgDeleteAfterFire  = "deleteAfterFire parameter must be one of [false, true, rules]."
	msgMissingMinutes   = "interval trigger feed is missing the minutes parameter"
	msgMinutesInteger   = "the minutes parameter must be an integer"
	msgMinutesPositive  = "the minutes parameter must be an integer greater than zero"
	msgMissingCron      = "alarms trigger feed is missing the cron parameter"
	msgFirstAfterStop   = "the first scheduled trigger fire is not until after the stop date"
	msgNextAfterStop    = "the next scheduled trigger fire is after the stop date"
	msgOnceExpired      = "the fire once date has expired"
	msgNoUpdatable      = "no updatable parameters were specified"
	msgCreateFailed     = "error creating alarm trigger."
	msgPausedByOwner    = "Paused by the trigger's owner"
)

func msgNotInDatabase(ns, name string) string {
	return fmt.Sprintf("could not find trigger /%s/%s in the database", ns, name)
}

// Feed is the code of the package's feed actions, to register with the
// controller for each of them (controller.RegisterBuiltin). The action's
// parameters say which feed it is: fireOnce (once), isInterval (interval),
// neither (alarm).
func (p *Provider) Feed() controller.BuiltinAction { return controller.BuiltinFunc(p.runFeed) }

// params are a feed invocation's arguments.
type params map[string]json.RawMessage

func (a params) str(key string) (string, bool) {
	var s string
	if v, ok := a[key]; ok && json.Unmarshal(v, &s) == nil {
		return s, true
	}
	return "", false
}

// truthy is JavaScript's `!!params[key]`, how the alarms service tells a
// parameter that was given from one that was not.
func (a params) truthy(key string) bool { return whisk.Truthy(a[key]) }

// text is a parameter as JavaScript's String() shows it in messages.
func (a params) text(key string) string { return dateText(a[key]) }

func result(v any) (json.RawMessage, whisk.StatusCode) {
	b, err := json.Marshal(v)
	if err != nil {
		return fail("the feed produced an unreadable result")
	}
	return b, whisk.StatusSuccess
}

var success = map[string]string{"status": "success"}

// fail is an error the client made: an application error with the
// service's {"error", "message"?} body.
func fail(msg string, detail ...string) (json.RawMessage, whisk.StatusCode) {
	body := map[string]string{"error": msg}
	if len(detail) > 0 && detail[0] != "" {
		body["message"] = detail[0]
	}
	b, _ := json.Marshal(body)
	return b, whisk.StatusApplicationError
}

// internalError is the platform's failure (the store), not the client's.
func internalError(err error) (json.RawMessage, whisk.StatusCode) {
	b, _ := json.Marshal(map[string]string{"error": "the alarm could not be stored: " + err.Error()})
	return b, whisk.StatusInternalError
}

func (p *Provider) runFeed(ctx context.Context, caller whisk.Identity, args json.RawMessage) (json.RawMessage, whisk.StatusCode) {
	var a params
	if err := json.Unmarshal(args, &a); err != nil || a == nil {
		return fail("the feed's arguments must be a JSON object")
	}
	qname, _ := a.str("triggerName")
	if !a.truthy("triggerName") {
		return fail(msgNoTriggerName)
	}
	// Whatever namespace the name says ("/_/t" usually), the trigger is the
	// caller's: the alarms service rewrote it to the action's namespace.
	name := qname
	if strings.HasPrefix(qname, "/") {
		parts := strings.SplitN(qname, "/", 3)
		name = ""
		if len(parts) == 3 {
			name = parts[2]
		}
	}
	ns := caller.Namespace
	event, _ := a.str("lifecycleEvent")
	switch event {
	case "CREATE", "READ", "UPDATE", "DELETE", "PAUSE", "UNPAUSE":
	default:
		return fail(msgUnsupportedEvent)
	}
	if res, code, ok := p.verifyTrigger(ctx, caller, a, ns, name, event == "DELETE"); !ok {
		return res, code
	}
	switch event {
	case "CREATE":
		return p.create(ctx, a, ns, name)
	case "READ":
		return p.read(ctx, ns, name)
	case "UPDATE":
		return p.update(ctx, a, ns, name)
	case "DELETE":
		return p.delete(ctx, ns, name)
	default:
		return p.pause(ctx, ns, name, event == "PAUSE")
	}
}

// verifyTrigger is the alarms service's check that the key it was given
// may read the trigger (a deleted trigger is fine for DELETE). The key, when
// given, must be one of the caller's namespace; it is not kept.
func (p *Provider) verifyTrigger(ctx context.Context, caller whisk.Identity, a params, ns, name string, deleting bool) (json.RawMessage, whisk.StatusCode, bool) {
	if key, ok := a.str("authKey"); ok && key != "" {
		k, err := whisk.ParseAuthKey(key)
		if err != nil {
			res, code := fail(msgAuthFailed, err.Error())
			return res, code, false
		}
		id, err := p.pf.Authenticate(ctx, k.UUID, k.Secret)
		if err != nil || id.Namespace != ns {
			res, code := fail(msgAuthFailed)
			return res, code, false
		}
	}
	if name == "" || !whisk.ValidName(name) {
		res, code := fail(msgAuthFailed)
		return res, code, false
	}
	_, err := p.pf.GetTrigger(ctx, caller, ns, name)
	if err != nil && !(deleting && whisk.CodeOf(err) == whisk.CodeNotFound) {
		res, code := fail(msgAuthFailed)
		return res, code, false
	}
	return nil, 0, true
}

// payloadOf is the fire body a trigger_payload gives: a string s becomes
// {"payload": s}, an object is the body itself.
func payloadOf(v json.RawMessage) json.RawMessage {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 0 || !whisk.Truthy(v) && v[0] != '"':
		return json.RawMessage("{}")
	case v[0] == '{':
		return v
	}
	b, _ := json.Marshal(map[string]json.RawMessage{"payload": v})
	return b
}

// validateDate is the alarms service's date check: valid, in the future,
// and after start when one is given.
func (p *Provider) validateDate(raw json.RawMessage, param string, start json.RawMessage) (string, bool) {
	d, ok := parseDate(raw)
	if !ok {
		return fmt.Sprintf("%s parameter '%s' is not a valid Date", param, dateText(raw)), false
	}
	if !p.now().Before(d) {
		return fmt.Sprintf("%s parameter '%s' must be in the future", param, dateText(raw)), false
	}
	if s, ok := parseDate(start); ok && !d.After(s) {
		return fmt.Sprintf("%s parameter '%s' must be greater than the startDate parameter '%s'", param, dateText(raw), dateText(start)), false
	}
	return "", true
}

// minutes reads the interval feed's minutes as JavaScript's +v and
// parseInt(v) do.
func minutes(v json.RawMessage) (int, string) {
	var f float64
	var s string
	switch {
	case json.Unmarshal(v, &f) == nil:
	case json.Unmarshal(v, &s) == nil:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
			return 0, msgMinutesInteger
		}
	default:
		return 0, msgMinutesInteger
	}
	if math.IsNaN(f) || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
		return 0, msgMinutesInteger
	}
	if f <= 0 {
		return 0, msgMinutesPositive
	}
	return int(f), ""
}

func deleteAfterFire(v json.RawMessage) (string, bool) {
	d := strings.ToLower(strings.TrimSpace(dateText(v)))
	switch d {
	case deleteNever, deleteTrigger, deleteRules:
		return d, true
	}
	return "", false
}

func boolParam(v json.RawMessage) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(dateText(v))) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

func (p *Provider) create(ctx context.Context, a params, ns, name string) (json.RawMessage, whisk.StatusCode) {
	now := p.now()
	cfg := config{Name: name, Namespace: ns, Payload: payloadOf(a["trigger_payload"])}
	switch {
	case a.truthy("fireOnce"):
		cfg.Kind = kindOnce
		if !a.truthy("date") {
			return fail(msgMissingDate)
		}
		if msg, ok := p.validateDate(a["date"], "date", nil); !ok {
			return fail(msg)
		}
		cfg.Date = a["date"]
		if a.truthy("deleteAfterFire") {
			d, ok := deleteAfterFire(a["deleteAfterFire"])
			if !ok {
				return fail(msgDeleteAfterFire)
			}
			cfg.DeleteAfterFire = d
		}
	default:
		if a.truthy("isInterval") {
			cfg.Kind = kindInterval
			if !a.truthy("minutes") {
				return fail(msgMissingMinutes)
			}
			m, msg := minutes(a["minutes"])
			if msg != "" {
				return fail(msg)
			}
			cfg.Minutes = m
		} else {
			cfg.Kind = kindCron
			if !a.truthy("cron") {
				return fail(msgMissingCron)
			}
			cfg.Cron, _ = a.str("cron")
			if a.truthy("timezone") {
				cfg.Timezone, _ = a.str("timezone")
			}
			if _, err := parseCron(cfg.Cron, cfg.Timezone); err != nil {
				return fail(err.Error())
			}
			strict := p.cfg.Strict
			if v, ok := boolParam(a["strict"]); ok {
				strict = v
			}
			cfg.Strict = &strict
		}
		if a.truthy("startDate") {
			if msg, ok := p.validateDate(a["startDate"], "startDate", nil); !ok {
				return fail(msg)
			}
			cfg.StartDate = a["startDate"]
		} else if cfg.Kind == kindInterval {
			cfg.StartDate = json.RawMessage(strconv.FormatInt(now.Add(p.cfg.IntervalDelay).UnixMilli(), 10))
		}
		if a.truthy("stopDate") {
			if msg, ok := p.validateDate(a["stopDate"], "stopDate", cfg.StartDate); !ok {
				return fail(msg)
			}
			cfg.StopDate = a["stopDate"]
			if _, ok := cfg.next(now); !ok && cfg.Kind == kindCron {
				return fail(msgFirstAfterStop)
			}
		}
	}
	next, ok := cfg.next(now)
	if !ok {
		return fail(msgNextAfterStop)
	}
	if _, err := p.st.GetSchedule(ctx, ns, name); err == nil {
		return fail(msgCreateFailed, "the trigger has an alarm already")
	} else if whisk.CodeOf(err) != whisk.CodeNotFound {
		return internalError(err)
	}
	if err := p.put(ctx, cfg, status{Active: true, DateChanged: now.UnixMilli()}, next.UnixMilli()); err != nil {
		return internalError(err)
	}
	return result(success)
}

func (p *Provider) put(ctx context.Context, cfg config, st status, next int64) error {
	c, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	s, err := json.Marshal(st)
	if err != nil {
		return err
	}
	err = p.st.PutSchedule(ctx, store.Schedule{
		Namespace: cfg.Namespace, Trigger: cfg.Name, Config: c, Status: s, NextFire: next, Updated: p.now().UnixMilli(),
	})
	if err == nil {
		p.notify()
	}
	return err
}

// load reads a trigger's schedule, or the service's "not in the database".
func (p *Provider) load(ctx context.Context, ns, name string) (config, status, json.RawMessage, whisk.StatusCode, bool) {
	var cfg config
	var st status
	sc, err := p.st.GetSchedule(ctx, ns, name)
	if err != nil {
		res, code := fail(msgNotInDatabase(ns, name))
		if whisk.CodeOf(err) != whisk.CodeNotFound {
			res, code = internalError(err)
		}
		return cfg, st, res, code, false
	}
	if err := json.Unmarshal(sc.Config, &cfg); err != nil {
		res, code := internalError(err)
		return cfg, st, res, code, false
	}
	_ = json.Unmarshal(sc.Status, &st)
	return cfg, st, nil, 0, true
}

// readBody is READ's answer, the alarms service's {config, status}.
type readBody struct {
	Config struct {
		Name            string          `json:"name"`
		Namespace       string          `json:"namespace"`
		Payload         json.RawMessage `json:"payload"`
		Date            json.RawMessage `json:"date,omitempty"`
		DeleteAfterFire string          `json:"deleteAfterFire,omitempty"`
		StartDate       json.RawMessage `json:"startDate,omitempty"`
		StopDate        json.RawMessage `json:"stopDate,omitempty"`
		Minutes         int             `json:"minutes,omitempty"`
		Cron            string          `json:"cron,omitempty"`
		Timezone        string          `json:"timezone,omitempty"`
		Strict          *bool           `json:"strict,omitempty"`
	} `json:"config"`
	Status struct {
		Active         bool    `json:"active"`
		DateChanged    int64   `json:"dateChanged"`
		DateChangedISO string  `json:"dateChangedISO"`
		Reason         *reason `json:"reason,omitempty"`
	} `json:"status"`
}

func (p *Provider) read(ctx context.Context, ns, name string) (json.RawMessage, whisk.StatusCode) {
	cfg, st, res, code, ok := p.load(ctx, ns, name)
	if !ok {
		return res, code
	}
	var b readBody
	b.Config.Name, b.Config.Namespace, b.Config.Payload = cfg.Name, cfg.Namespace, cfg.Payload
	switch cfg.Kind {
	case kindOnce:
		b.Config.Date, b.Config.DeleteAfterFire = cfg.Date, cfg.DeleteAfterFire
	case kindInterval:
		b.Config.StartDate, b.Config.StopDate, b.Config.Minutes = cfg.StartDate, cfg.StopDate, cfg.Minutes
	default:
		b.Config.StartDate, b.Config.StopDate = cfg.StartDate, cfg.StopDate
		b.Config.Cron, b.Config.Timezone, b.Config.Strict = cfg.Cron, cfg.Timezone, cfg.Strict
	}
	b.Status.Active, b.Status.DateChanged, b.Status.Reason = st.Active, st.DateChanged, st.Reason
	b.Status.DateChangedISO = time.UnixMilli(st.DateChanged).UTC().Format("2006-01-02T15:04:05Z07:00")
	return result(b)
}

// update changes what the parameters give and re-enables the schedule, as
// the alarms service does.
func (p *Provider) update(ctx context.Context, a params, ns, name string) (json.RawMessage, whisk.StatusCode) {
	cfg, _, res, code, ok := p.load(ctx, ns, name)
	if !ok {
		return res, code
	}
	now := p.now()
	changed := false
	if a.truthy("trigger_payload") {
		cfg.Payload, changed = payloadOf(a["trigger_payload"]), true
	}
	if cfg.Kind == kindOnce {
		if a.truthy("date") {
			if msg, ok := p.validateDate(a["date"], "date", nil); !ok {
				return fail(msg)
			}
			cfg.Date, changed = a["date"], true
		}
		if a.truthy("deleteAfterFire") {
			d, ok := deleteAfterFire(a["deleteAfterFire"])
			if !ok {
				return fail(msgDeleteAfterFire)
			}
			cfg.DeleteAfterFire, changed = d, true
		}
	} else {
		if cfg.Kind == kindInterval {
			if a.truthy("minutes") {
				m, msg := minutes(a["minutes"])
				if msg != "" {
					return fail(msg)
				}
				cfg.Minutes, changed = m, true
			}
		} else if a.truthy("cron") || a.truthy("timezone") {
			spec, tz := cfg.Cron, cfg.Timezone
			if a.truthy("cron") {
				spec, _ = a.str("cron")
			}
			if a.truthy("timezone") {
				tz, _ = a.str("timezone")
			}
			if _, err := parseCron(spec, tz); err != nil {
				return fail(err.Error())
			}
			cfg.Cron, cfg.Timezone, changed = spec, tz, true
		}
		if a.truthy("startDate") {
			if msg, ok := p.validateDate(a["startDate"], "startDate", nil); !ok {
				return fail(msg)
			}
			cfg.StartDate, changed = a["startDate"], true
		}
		if a.truthy("stopDate") {
			if msg, ok := p.validateDate(a["stopDate"], "stopDate", cfg.StartDate); !ok {
				return fail(msg)
			}
			cfg.StopDate, changed = a["stopDate"], true
		} else if a.truthy("startDate") && len(cfg.StopDate) > 0 {
			start, _ := parseDate(cfg.StartDate)
			if stop, _ := parseDate(cfg.StopDate); !start.Before(stop) {
				return fail(fmt.Sprintf("startDate parameter '%s' must be less than the stopDate parameter '%s'",
					dateText(cfg.StartDate), dateText(cfg.StopDate)))
			}
		}
	}
	if !changed {
		return fail(msgNoUpdatable)
	}
	st := status{Active: true, DateChanged: now.UnixMilli()}
	var due int64
	if next, ok := cfg.next(now); ok {
		due = next.UnixMilli()
	} else {
		st = p.inactive(now, &reason{Kind: "AUTO", Message: msgNextAfterStop})
	}
	if err := p.put(ctx, cfg, st, due); err != nil {
		return internalError(err)
	}
	return result(success)
}

func (p *Provider) delete(ctx context.Context, ns, name string) (json.RawMessage, whisk.StatusCode) {
	err := p.st.DeleteSchedule(ctx, ns, name)
	switch {
	case whisk.CodeOf(err) == whisk.CodeNotFound:
		return fail(msgNotInDatabase(ns, name))
	case err != nil:
		return internalError(err)
	}
	return result(success)
}

// pause stops a schedule without forgetting it; unpause starts it again
// from the present (ticks missed while paused do not fire).
func (p *Provider) pause(ctx context.Context, ns, name string, pausing bool) (json.RawMessage, whisk.StatusCode) {
	cfg, _, res, code, ok := p.load(ctx, ns, name)
	if !ok {
		return res, code
	}
	now := p.now()
	if pausing {
		if err := p.put(ctx, cfg, p.inactive(now, &reason{Kind: "USER", Message: msgPausedByOwner}), 0); err != nil {
			return internalError(err)
		}
		return result(success)
	}
	next, ok := cfg.next(now)
	if !ok {
		if cfg.Kind == kindOnce {
			return fail(msgOnceExpired)
		}
		return fail(msgNextAfterStop)
	}
	if err := p.put(ctx, cfg, status{Active: true, DateChanged: now.UnixMilli()}, next.UnixMilli()); err != nil {
		return internalError(err)
	}
	return result(success)
}
