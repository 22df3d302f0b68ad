package hubstore

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"
)

func TestBlobs(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	st, err := Open(ctx, Options{DSN: path})
	if err != nil {
		t.Fatal(err)
	}
	g1, g2 := [16]byte{1}, [16]byte{2}
	for i := range 5 {
		g := g1
		if i%2 == 1 {
			g = g2
		}
		if _, err := st.AddBlob(ctx, g, uint32(i), []byte{byte(i), 0xaa}, t0.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	bs, err := st.Blobs(ctx, g1, 0, 10)
	if err != nil || len(bs) != 3 || bs[0].Seq >= bs[1].Seq || !bytes.Equal(bs[2].Data, []byte{4, 0xaa}) || bs[2].Epoch != 4 {
		t.Fatalf("Blobs = %+v, %v", bs, err)
	}
	after, _ := st.Blobs(ctx, g1, bs[0].Seq, 1)
	if len(after) != 1 || after[0].Seq != bs[1].Seq {
		t.Fatalf("after/limit: %+v", after)
	}
	// Durable: a new Open of the file sees them.
	st.Close()
	st, err = Open(ctx, Options{DSN: path})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if bs, _ := st.Blobs(ctx, g2, 0, 10); len(bs) != 2 {
		t.Fatalf("after reopening: %d blobs of g2", len(bs))
	}
	n, err := st.PruneBlobs(ctx, t0.Add(150*time.Minute))
	if err != nil || n != 3 {
		t.Fatalf("PruneBlobs = %d, %v", n, err)
	}
	rows, err := st.TableRows(ctx)
	if err != nil || rows["group_blobs"] != 2 {
		t.Fatalf("TableRows = %v, %v", rows, err)
	}
}
