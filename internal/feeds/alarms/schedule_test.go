package alarms

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ms(t time.Time) json.RawMessage { return json.RawMessage(strconv.FormatInt(t.UnixMilli(), 10)) }

func str(s string) json.RawMessage { b, _ := json.Marshal(s); return b }

func bp(b bool) *bool { return &b }

func TestNextFire(t *testing.T) {
	tests := []struct {
		name  string
		cfg   config
		after string
		want  string // "" = never
	}{
		{"cron every minute", config{Kind: kindCron, Cron: "*/1 * * * *"}, "2025-03-04T10:20:30Z", "2025-03-04T10:21:00Z"},
		{"cron on the minute is strictly after", config{Kind: kindCron, Cron: "* * * * *"}, "2025-03-04T10:21:00Z", "2025-03-04T10:22:00Z"},
		{"cron with seconds", config{Kind: kindCron, Cron: "*/30 * * * * *"}, "2025-03-04T10:20:30.5Z", "2025-03-04T10:21:00Z"},
		{"cron every second", config{Kind: kindCron, Cron: "* * * * * *"}, "2025-03-04T10:20:30.001Z", "2025-03-04T10:20:31Z"},
		{"cron hourly", config{Kind: kindCron, Cron: "0 * * * *"}, "2025-03-04T10:20:30Z", "2025-03-04T11:00:00Z"},
		{"cron in a timezone", config{Kind: kindCron, Cron: "0 9 * * *", Timezone: "America/New_York"},
			"2025-03-04T10:00:00Z", "2025-03-04T14:00:00Z"},
		{"cron across a DST change", config{Kind: kindCron, Cron: "0 9 * * *", Timezone: "America/New_York"},
			"2025-03-09T12:00:00Z", "2025-03-09T13:00:00Z"},
		{"cron waits for its start date", config{Kind: kindCron, Cron: "*/5 * * * *", StartDate: str("2025-03-04T12:00:00Z")},
			"2025-03-04T10:20:30Z", "2025-03-04T12:00:00Z"},
		{"cron start date between ticks", config{Kind: kindCron, Cron: "*/5 * * * *", StartDate: ms(at("2025-03-04T12:01:00Z"))},
			"2025-03-04T10:20:30Z", "2025-03-04T12:05:00Z"},
		{"cron fires at its stop date", config{Kind: kindCron, Cron: "0 * * * *", StopDate: str("2025-03-04T11:00:00Z")},
			"2025-03-04T10:20:30Z", "2025-03-04T11:00:00Z"},
		{"cron past its stop date", config{Kind: kindCron, Cron: "0 * * * *", StopDate: str("2025-03-04T10:59:59Z")},
			"2025-03-04T10:20:30Z", ""},
		{"non-strict cron is offset within its minute", config{Kind: kindCron, Cron: "0 * * * *", Strict: bp(false), Namespace: "guest", Name: "t"},
			"2025-03-04T10:20:30Z", "2025-03-04T11:00:" + pad(offset("guest", "t")) + "Z"},
		{"strict cron is not", config{Kind: kindCron, Cron: "0 * * * *", Strict: bp(true), Namespace: "guest", Name: "t"},
			"2025-03-04T10:20:30Z", "2025-03-04T11:00:00Z"},
		{"interval before its start", config{Kind: kindInterval, Minutes: 2, StartDate: ms(at("2025-03-04T10:30:00Z"))},
			"2025-03-04T10:20:00Z", "2025-03-04T10:30:00Z"},
		{"interval after its start", config{Kind: kindInterval, Minutes: 2, StartDate: ms(at("2025-03-04T10:30:00Z"))},
			"2025-03-04T10:33:00Z", "2025-03-04T10:34:00Z"},
		{"interval at a tick is strictly after", config{Kind: kindInterval, Minutes: 2, StartDate: ms(at("2025-03-04T10:30:00Z"))},
			"2025-03-04T10:34:00Z", "2025-03-04T10:36:00Z"},
		{"interval long after (catch-up) skips missed ticks", config{Kind: kindInterval, Minutes: 10, StartDate: ms(at("2025-03-04T10:00:00Z"))},
			"2025-03-05T07:03:00Z", "2025-03-05T07:10:00Z"},
		{"interval past its stop date", config{Kind: kindInterval, Minutes: 10, StartDate: ms(at("2025-03-04T10:00:00Z")), StopDate: str("2025-03-04T10:15:00Z")},
			"2025-03-04T10:10:00Z", ""},
		{"once before its date", config{Kind: kindOnce, Date: str("2025-03-04T10:30:00.000Z")}, "2025-03-04T10:00:00Z", "2025-03-04T10:30:00Z"},
		{"once after its date", config{Kind: kindOnce, Date: str("2025-03-04T10:30:00.000Z")}, "2025-03-04T10:30:00Z", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.cfg.next(at(tc.after))
			if tc.want == "" {
				if ok {
					t.Fatalf("next after %s = %s, want never", tc.after, got.UTC().Format(time.RFC3339Nano))
				}
				return
			}
			if !ok || !got.Equal(at(tc.want)) {
				t.Fatalf("next after %s = %s (%v), want %s", tc.after, got.UTC().Format(time.RFC3339Nano), ok, tc.want)
			}
		})
	}
}

func pad(d time.Duration) string {
	s := strconv.Itoa(int(d / time.Second))
	if len(s) == 1 {
		s = "0" + s
	}
	return s
}

func TestParseCronErrors(t *testing.T) {
	tests := []struct{ spec, tz, want string }{
		{"* * *", "", "cron pattern '* * *' is not valid"},
		{"61 * * * *", "", "cron pattern '61 * * * *' is not valid"},
		{"* * * * * * *", "", "cron pattern '* * * * * * *' is not valid"},
		{"* * * * *", "Mars/Olympus", "Invalid timezone."},
	}
	for _, tc := range tests {
		_, err := parseCron(tc.spec, tc.tz)
		if err == nil || err.Error() != tc.want {
			t.Errorf("parseCron(%q, %q) = %v, want %q", tc.spec, tc.tz, err, tc.want)
		}
	}
	for _, ok := range []string{"* * * * *", "*/30 * * * * *", "0 9 8 * *", "@hourly", "0 0 * * MON-FRI"} {
		if _, err := parseCron(ok, "Europe/Paris"); err != nil {
			t.Errorf("parseCron(%q): %v", ok, err)
		}
	}
}

func TestParseDate(t *testing.T) {
	want := at("2019-12-25T12:30:00Z")
	for _, in := range []string{`"2019-12-25T12:30:00.000Z"`, `"2019-12-25T12:30:00Z"`, `"2019-12-25T13:30:00+01:00"`,
		`"2019-12-25T12:30:00"`, `"2019-12-25T12:30"`, `1577277000000`} {
		got, ok := parseDate(json.RawMessage(in))
		if !ok || !got.Equal(want) {
			t.Errorf("parseDate(%s) = %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{`"tomorrow"`, `""`, `true`, `{}`, `"1577277000000"`} {
		if got, ok := parseDate(json.RawMessage(in)); ok {
			t.Errorf("parseDate(%s) = %v, want invalid", in, got)
		}
	}
}

func TestMinutes(t *testing.T) {
	tests := []struct {
		in   string
		want int
		msg  string
	}{
		{`5`, 5, ""}, {`"7"`, 7, ""}, {`2.5`, 0, msgMinutesInteger}, {`"x"`, 0, msgMinutesInteger},
		{`-3`, 0, msgMinutesPositive}, {`true`, 0, msgMinutesInteger},
	}
	for _, tc := range tests {
		got, msg := minutes(json.RawMessage(tc.in))
		if got != tc.want || msg != tc.msg {
			t.Errorf("minutes(%s) = %d %q, want %d %q", tc.in, got, msg, tc.want, tc.msg)
		}
	}
}

func TestPayloadOf(t *testing.T) {
	tests := map[string]string{
		`"hi"`:            `{"payload":"hi"}`,
		`""`:              `{"payload":""}`,
		`{"name":"Odin"}`: `{"name":"Odin"}`,
		`null`:            `{}`,
		``:                `{}`,
	}
	for in, want := range tests {
		if got := string(payloadOf(json.RawMessage(in))); got != want {
			t.Errorf("payloadOf(%s) = %s, want %s", in, got, want)
		}
	}
}
