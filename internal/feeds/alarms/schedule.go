package alarms

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // timezones work on hosts without a zoneinfo database

	"github.com/robfig/cron/v3"
)

// Feed kinds: which of the package's feed actions made a schedule.
const (
	kindCron     = "alarm"
	kindOnce     = "once"
	kindInterval = "interval"
)

// Values of deleteAfterFire.
const (
	deleteNever   = "false"
	deleteTrigger = "true"
	deleteRules   = "rules"
)

// config is a schedule as the feed configured it, stored as the schedule's
// Config. Dates keep the JSON the client gave (an epoch ms number or an
// ISO 8601 string), which READ returns as given, as the alarms service does.
type config struct {
	Kind      string          `json:"kind"`
	Name      string          `json:"name"`
	Namespace string          `json:"namespace"`
	Payload   json.RawMessage `json:"payload"`

	Cron     string `json:"cron,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	Strict   *bool  `json:"strict,omitempty"`

	Minutes int `json:"minutes,omitempty"`

	StartDate json.RawMessage `json:"startDate,omitempty"`
	StopDate  json.RawMessage `json:"stopDate,omitempty"`

	Date            json.RawMessage `json:"date,omitempty"`
	DeleteAfterFire string          `json:"deleteAfterFire,omitempty"`
}

// status is a schedule's state as READ reports it, stored as the
// schedule's Status.
type status struct {
	Active      bool    `json:"active"`
	DateChanged int64   `json:"dateChanged"` // epoch ms
	Reason      *reason `json:"reason,omitempty"`
}

// reason says why a schedule is not active: kind AUTO when the provider
// disabled it, USER when its owner paused it.
type reason struct {
	Kind       string `json:"kind"`
	StatusCode int    `json:"statusCode,omitempty"`
	Message    string `json:"message"`
}

// cronParser reads 5-field crontab lines and 6-field ones whose first field
// is seconds, as the alarms service's node-cron does, and @hourly-style
// descriptors.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// errInvalidTimezone is the alarms service's text, from the cron module.
var errInvalidTimezone = errors.New("Invalid timezone.") //nolint:staticcheck // the user-facing message, verbatim

// parseCron parses spec in the named timezone ("" = UTC).
func parseCron(spec, timezone string) (cron.Schedule, error) {
	loc := time.UTC
	if timezone != "" {
		l, err := time.LoadLocation(timezone)
		if err != nil {
			return nil, errInvalidTimezone
		}
		loc = l
	}
	sched, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("cron pattern '%s' is not valid", spec)
	}
	if s, ok := sched.(*cron.SpecSchedule); ok {
		s.Location = loc
	}
	return sched, nil
}

// hasSeconds reports whether a cron line has the optional seconds field.
func hasSeconds(spec string) bool { return len(strings.Fields(spec)) > 5 }

// offset is how late a non-strict 5-field alarm fires within its minute:
// a number of seconds below 60 derived from the trigger's name, so that
// alarms sharing a schedule spread over the minute, and stay put across
// restarts.
func offset(namespace, name string) time.Duration {
	h := fnv.New32a()
	h.Write([]byte(namespace + "/" + name))
	return time.Duration(h.Sum32()%60) * time.Second
}

// parseDate reads a date as JavaScript's new Date does for the forms
// clients send: a number of epoch milliseconds, or an ISO 8601 string (UTC
// when it names no zone).
func parseDate(raw json.RawMessage) (time.Time, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return time.Time{}, false
	}
	if raw[0] != '"' {
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 8.64e15 {
			return time.Time{}, false
		}
		return time.UnixMilli(int64(f)).UTC(), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return time.Time{}, false
	}
	s = strings.TrimSpace(s)
	for _, layout := range []string{
		time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04Z07:00", "2006-01-02T15:04",
		"2006-01-02", "2006-01", "2006",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// dateText is a date parameter as the alarms service quotes it in messages.
func dateText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}

// times are a config's dates, parsed.
type times struct {
	start, stop, date time.Time
}

func (c *config) times() times {
	var t times
	t.start, _ = parseDate(c.StartDate)
	t.stop, _ = parseDate(c.StopDate)
	t.date, _ = parseDate(c.Date)
	return t
}

// next is when the schedule is due after the instant after, and false when
// never again: the cron or interval line has passed its stop date, or the
// one date has passed.
func (c *config) next(after time.Time) (time.Time, bool) {
	t := c.times()
	var n time.Time
	switch c.Kind {
	case kindOnce:
		if !after.Before(t.date) {
			return time.Time{}, false
		}
		return t.date, true
	case kindInterval:
		iv := time.Duration(c.Minutes) * time.Minute
		if iv <= 0 {
			return time.Time{}, false
		}
		if after.Before(t.start) {
			n = t.start
		} else {
			k := after.Sub(t.start) / iv
			n = t.start.Add((k + 1) * iv)
		}
	default:
		sched, err := parseCron(c.Cron, c.Timezone)
		if err != nil {
			return time.Time{}, false
		}
		from := after
		if !t.start.IsZero() && after.Before(t.start) {
			// Next is strictly after its argument: the start itself may fire.
			from = t.start.Add(-time.Nanosecond)
		}
		var shift time.Duration
		if c.Strict != nil && !*c.Strict && !hasSeconds(c.Cron) {
			shift = offset(c.Namespace, c.Name)
		}
		n = sched.Next(from.Add(-shift))
		if n.IsZero() {
			return time.Time{}, false
		}
		n = n.Add(shift)
	}
	if !t.stop.IsZero() && n.After(t.stop) {
		return time.Time{}, false
	}
	return n, true
}
