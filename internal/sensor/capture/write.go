package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// Writer writes a little-endian pcap file with nanosecond timestamps: for
// tests and for the sensor's own sample captures. It never writes payloads
// the sensor saw; callers hand it frames they built.
type Writer struct {
	w   io.Writer
	hdr [16]byte
}

// NewWriter writes a pcap file header for link to w.
func NewWriter(w io.Writer, link LinkType) (*Writer, error) {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], pcapNano)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], MaxSnap)
	binary.LittleEndian.PutUint32(h[20:], uint32(link))
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("capture: writing the pcap header: %w", err)
	}
	return &Writer{w: w}, nil
}

// Write appends one frame captured at t.
func (w *Writer) Write(t time.Time, frame []byte) error {
	binary.LittleEndian.PutUint32(w.hdr[0:], uint32(t.Unix()))
	binary.LittleEndian.PutUint32(w.hdr[4:], uint32(t.Nanosecond()))
	binary.LittleEndian.PutUint32(w.hdr[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(w.hdr[12:], uint32(len(frame)))
	if _, err := w.w.Write(w.hdr[:]); err != nil {
		return fmt.Errorf("capture: writing a record: %w", err)
	}
	if _, err := w.w.Write(frame); err != nil {
		return fmt.Errorf("capture: writing a record: %w", err)
	}
	return nil
}
