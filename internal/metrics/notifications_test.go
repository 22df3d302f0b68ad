package metrics

import "testing"

func TestNotificationCountsReachTheScrape(t *testing.T) {
	m := New(Options{})
	counts := map[string]NotifyCounts{"hook": {Sent: 3, Failed: 1, Dropped: 2, Retried: 4, Digests: 1}, "mail": {Sent: 1}}
	m.Notifications(func() map[string]NotifyCounts { return counts })
	s := scrape(t, m)
	for _, c := range []struct {
		match []string
		want  float64
	}{
		{[]string{"channel", "hook", "result", "sent"}, 3},
		{[]string{"channel", "hook", "result", "failed"}, 1},
		{[]string{"channel", "hook", "result", "dropped"}, 2},
		{[]string{"channel", "hook", "result", "retried"}, 4},
		{[]string{"channel", "hook", "result", "digest"}, 1},
		{[]string{"result", "sent"}, 4},
	} {
		if got := s.Sum(Notifications, c.match...); got != c.want {
			t.Errorf("%s%v = %v, want %v", Notifications, c.match, got, c.want)
		}
	}
}
