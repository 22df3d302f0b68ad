package query

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// table writes the listings of the command line: a header line of
// upper-case column names, then the rows aligned in columns two spaces
// apart; with no row at all, the empty state alone ("no decisions"), so an
// empty listing never looks like a failure or a hang.
type table struct {
	w      io.Writer
	tw     *tabwriter.Writer
	header []string
	empty  string
	rows   int
}

// newTable returns a table with the given column names that writes empty
// when no row is added.
func newTable(w io.Writer, empty string, header ...string) *table {
	return &table{w: w, header: header, empty: empty}
}

// row adds one row; cells are already escaped for a terminal.
func (t *table) row(cells ...string) {
	if t.tw == nil {
		t.tw = tabwriter.NewWriter(t.w, 2, 8, 2, ' ', 0)
		fmt.Fprintln(t.tw, strings.Join(t.header, "\t"))
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
	t.rows++
}

// flush writes the table, or the empty state when it has no row.
func (t *table) flush() error {
	if t.tw == nil {
		_, err := fmt.Fprintln(t.w, t.empty)
		return err
	}
	return t.tw.Flush()
}
