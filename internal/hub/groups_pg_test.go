package hub

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/hub/hubstore"
)

// TestBlobsPostgres: the group relay's table on PostgreSQL: blobs stored
// concurrently by several writers are read back in order, each once, and
// pruned by age.
func TestBlobsPostgres(t *testing.T) {
	dsn := pgDSN(t)
	ctx := context.Background()
	st, err := hubstore.Open(ctx, hubstore.Options{Driver: "postgres", DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := [16]byte{7}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if _, err := st.AddBlob(ctx, g, uint32(w), []byte{byte(w), byte(i)}, t0.Add(time.Duration(i)*time.Hour)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var all []hubstore.Blob
	var after int64
	for {
		bs, err := st.Blobs(ctx, g, after, 16)
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) == 0 {
			break
		}
		all = append(all, bs...)
		after = bs[len(bs)-1].Seq
	}
	if len(all) != 100 {
		t.Fatalf("read %d blobs, want 100", len(all))
	}
	seen := map[[2]byte]bool{}
	for i, b := range all {
		if i > 0 && b.Seq <= all[i-1].Seq {
			t.Fatal("out of order")
		}
		if len(b.Data) != 2 || b.Epoch != uint32(b.Data[0]) || seen[[2]byte(b.Data)] {
			t.Fatalf("blob %d: %x epoch %d", i, b.Data, b.Epoch)
		}
		seen[[2]byte(b.Data)] = true
	}
	if n, err := st.PruneBlobs(ctx, t0.Add(10*time.Hour)); err != nil || n != 40 {
		t.Fatalf("PruneBlobs = %d, %v", n, err)
	}
	rows, err := st.TableRows(ctx)
	if err != nil || rows["group_blobs"] != 60 {
		t.Fatalf("TableRows = %v, %v", rows, err)
	}
}
