package file_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/herd-ips/herd/internal/source/file"
)

// A follower hands out complete lines with the position to save once each
// is handled; passing the saved position back resumes exactly after it.
func Example() {
	dir, _ := os.MkdirTemp("", "herd-file-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "auth.log")
	os.WriteFile(path, []byte("first\nsecond\nthird\n"), 0o644)

	saved := map[string]file.Position{} // what the store would keep
	follow := func(stopAfter int) {
		f, err := file.New(file.Options{Globs: []string{filepath.Join(dir, "*.log")}, FromStart: true, Start: saved})
		if err != nil {
			panic(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		f.Run(ctx, func(l file.Line) error {
			fmt.Printf("%s (next at %d)\n", l.Data, l.Pos.Offset)
			saved[l.Path] = l.Pos // this line is done
			if n++; n == stopAfter {
				cancel()
			}
			return nil
		})
	}
	follow(1)
	fmt.Println("-- restart")
	follow(2)
	// Output:
	// first (next at 6)
	// -- restart
	// second (next at 13)
	// third (next at 19)
}
