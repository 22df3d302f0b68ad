package envelope

import (
	"testing"
	"time"
)

// TestDaysFromCivil checks the calendar arithmetic against package time for
// every day of years 1 to 9999.
func TestDaysFromCivil(t *testing.T) {
	first := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / 86400
	last := time.Date(maxYear, 12, 31, 0, 0, 0, 0, time.UTC).Unix() / 86400
	for day := first; day <= last; day++ {
		y, m, d := time.Unix(day*86400, 0).UTC().Date()
		if got := daysFromCivil(y, int(m), d); got != day {
			t.Fatalf("daysFromCivil(%d, %d, %d) = %d, want %d", y, m, d, got, day)
		}
	}
}

func TestBuildRefuses(t *testing.T) {
	p := newTestParser()
	for _, c := range []civil{
		{year: 2023, month: 2, day: 29},
		{year: 2024, month: 4, day: 31},
		{year: 2024, month: 0, day: 1},
		{year: 2024, month: 13, day: 1},
		{year: 2024, month: 1, day: 0},
		{year: 2024, month: 1, day: 1, hour: 24},
		{year: 2024, month: 1, day: 1, min: 60},
		{year: 2024, month: 1, day: 1, sec: 60},
		{year: 2024, month: 1, day: 1, nsec: 1e9},
		{year: 0, month: 1, day: 1},
		{year: 10000, month: 1, day: 1},
		{noYear: true, month: 2, day: 30},
	} {
		if tm, ok := p.build(&c); ok {
			t.Errorf("build(%+v) = %v, want refusal", c, tm)
		}
	}
}
