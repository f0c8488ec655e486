package follow

import (
	"context"
	"database/sql"
	"testing"

	"github.com/termshift/termshift"
)

// TestSameServer tells the binary log server from the machine's other
// MariaDB, and each from itself: the changes a follower saw are trusted
// only when the target's own writes reach the binary log it reads.
func TestSameServer(t *testing.T) {
	binlog := termshift.RequireLocalSetting(t, "TERMSHIFT_BINLOG_MYSQL_DSN")
	other := termshift.RequireLocalSetting(t, "TERMSHIFT_MYSQL_DSN")
	a, err := sql.Open("mysql", binlog)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sql.Open("mysql", other)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a2, err := sql.Open("mysql", binlog)
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	ctx := context.Background()
	for _, c := range []struct {
		name string
		x, y *sql.DB
		want bool
	}{{"binlog server, twice", a, a2, true}, {"binlog server and the other", a, b, false}, {"the other and the binlog server", b, a, false}} {
		got, err := sameServer(ctx, c.x, c.y)
		if err != nil || got != c.want {
			t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}
