// liiklus interop check: riff's own Go liiklus client (github.com/projectriff/stream-client-go,
// whose gRPC code is generated from liiklus's LiiklusService.proto, not from Runnel's copy)
// against a running runnel-gateway. It provisions a stream with riff's provisioner API, publishes
// events with riff's StreamClient, subscribes with a group, receives them in LIIKLUS_EVENT
// format, acks, re-subscribes and checks that the group resumes after the ack, reads
// GetOffsets/GetEndOffsets as KEDA's scaler does, consumes everything with riff's own Subscribe
// loop (which acks each event), and checks the deprecated BINARY/value forms old clients use.
// Prints one line per check and exits non-zero on the first mismatch. Every wait is bounded.
//
// Usage: liiklus-interop -gateway 127.0.0.1:6565 -http 127.0.0.1:8080 [-events 50]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	client "github.com/projectriff/stream-client-go"
	"github.com/projectriff/stream-client-go/pkg/liiklus"
	"google.golang.org/grpc"
)

var (
	gatewayAddr = flag.String("gateway", "", "gRPC address of the gateway (host:port)")
	httpAddr    = flag.String("http", "", "HTTP address of the gateway (host:port), for riff's provisioner API")
	events      = flag.Int("events", 50, "number of events to publish")
	timeout     = flag.Duration("timeout", 60*time.Second, "bound on the whole check")
)

const contentType = "application/json"

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func ok(format string, args ...interface{}) {
	fmt.Printf("ok: "+format+"\n", args...)
}

func payload(i int) []byte { return []byte(fmt.Sprintf(`{"n":%d}`, i)) }

// provision creates <namespace>/<stream> through riff's provisioner API and returns the topic.
func provision(ctx context.Context, namespace, stream string) string {
	url := fmt.Sprintf("http://%s/%s/%s", *httpAddr, namespace, stream)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, nil)
	if err != nil {
		fail("provision request: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail("PUT %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		fail("PUT %s: status %d, want 201: %s", url, resp.StatusCode, body)
	}
	var answer struct {
		Gateway string `json:"gateway"`
		Topic   string `json:"topic"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		fail("PUT %s: answer %q is not riff's provisioner JSON: %v", url, body, err)
	}
	if want := namespace + "_" + stream; answer.Topic != want || answer.Gateway == "" {
		fail("PUT %s: answered %+v, want topic %q and a gateway", url, answer, want)
	}
	return answer.Topic
}

// session is one Subscribe call and the Receive call of its (single) assignment.
type session struct {
	cancel  context.CancelFunc
	receive liiklus.LiiklusService_ReceiveClient
	assign  *liiklus.Assignment
}

func subscribe(ctx context.Context, c liiklus.LiiklusServiceClient, topic, group string,
	reset liiklus.SubscribeRequest_AutoOffsetReset, format liiklus.ReceiveRequest_ContentFormat) *session {
	sctx, cancel := context.WithCancel(ctx)
	sub, err := c.Subscribe(sctx, &liiklus.SubscribeRequest{Topic: topic, Group: group, AutoOffsetReset: reset})
	if err != nil {
		fail("Subscribe(%s, %s): %v", topic, group, err)
	}
	reply, err := sub.Recv()
	if err != nil {
		fail("Subscribe(%s, %s): no assignment: %v", topic, group, err)
	}
	a := reply.GetAssignment()
	if a == nil || a.SessionId == "" || a.Partition != 0 {
		fail("Subscribe(%s, %s): assignment %+v, want partition 0 with a session", topic, group, a)
	}
	recv, err := c.Receive(sctx, &liiklus.ReceiveRequest{Assignment: a, Format: format})
	if err != nil {
		fail("Receive(%s, %s): %v", topic, group, err)
	}
	return &session{cancel: cancel, receive: recv, assign: a}
}

// expectEvent reads one LIIKLUS_EVENT record and checks it is event `i` as published.
func expectEvent(s *session, i int, ids map[string]int) {
	reply, err := s.receive.Recv()
	if err != nil {
		fail("Receive: waiting for offset %d: %v", i, err)
	}
	r := reply.GetLiiklusEventRecord()
	if r == nil || r.Event == nil {
		fail("Receive: offset %d: not a LIIKLUS_EVENT record: %v", i, reply)
	}
	e := r.Event
	if r.Offset != uint64(i) || !bytes.Equal(e.Data, payload(i)) {
		fail("Receive: got offset %d data %q, want offset %d data %q", r.Offset, e.Data, i, payload(i))
	}
	// riff's client sets these CloudEvent attributes; they must come back whole.
	if e.DataContentType != contentType || e.Type != "riff-event" || e.Source != "source-todo" ||
		e.Id == "" || e.Time == "" || e.Extensions["seq"] != strconv.Itoa(i) || r.Timestamp == nil {
		fail("Receive: offset %d: event not returned whole: %+v (timestamp %v)", i, e, r.Timestamp)
	}
	if prev, dup := ids[e.Id]; dup && prev != i {
		fail("Receive: event id %q at offsets %d and %d", e.Id, prev, i)
	}
	ids[e.Id] = i
}

func offsets(ctx context.Context, c liiklus.LiiklusServiceClient, topic, group string) map[uint32]uint64 {
	r, err := c.GetOffsets(ctx, &liiklus.GetOffsetsRequest{Topic: topic, Group: group})
	if err != nil {
		fail("GetOffsets(%s, %s): %v", topic, group, err)
	}
	return r.Offsets
}

func main() {
	flag.Parse()
	if *gatewayAddr == "" || *httpAddr == "" || *events < 4 {
		fail("usage: -gateway host:port -http host:port [-events N>=4]")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	n := *events

	topic := provision(ctx, "interop", "events")
	ok("riff provisioner created topic %s", topic)

	// Publish with riff's StreamClient: CloudEvents in liiklus's LIIKLUS_EVENT form.
	sc, err := client.NewStreamClient(*gatewayAddr, topic, contentType)
	if err != nil {
		fail("NewStreamClient: %v", err)
	}
	defer sc.Close()
	for i := 0; i < n; i++ {
		res, err := sc.Publish(ctx, bytes.NewReader(payload(i)), nil, contentType,
			map[string]string{"seq": strconv.Itoa(i)})
		if err != nil {
			fail("Publish %d: %v", i, err)
		}
		if res.Partition != 0 || res.Offset != uint64(i) {
			fail("Publish %d: landed at partition %d offset %d, want 0/%d", i, res.Partition, res.Offset, i)
		}
	}
	ok("published %d events with riff's StreamClient at offsets 0..%d", n, n-1)

	conn, err := grpc.DialContext(ctx, *gatewayAddr, grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		fail("dial %s: %v", *gatewayAddr, err)
	}
	defer conn.Close()
	c := liiklus.NewLiiklusServiceClient(conn)

	end, err := c.GetEndOffsets(ctx, &liiklus.GetEndOffsetsRequest{Topic: topic})
	if err != nil {
		fail("GetEndOffsets: %v", err)
	}
	if len(end.Offsets) != 1 || end.Offsets[0] != uint64(n-1) {
		fail("GetEndOffsets: %v, want {0: %d}", end.Offsets, n-1)
	}
	ok("GetEndOffsets = %v", end.Offsets)

	// A group reads the first half, acks it, and leaves.
	const group = "interop-a"
	if got := offsets(ctx, c, topic, group); len(got) != 0 {
		fail("GetOffsets of a group that never acked: %v, want none", got)
	}
	half := n / 2
	ids := map[string]int{}
	s := subscribe(ctx, c, topic, group, liiklus.SubscribeRequest_EARLIEST, liiklus.ReceiveRequest_LIIKLUS_EVENT)
	for i := 0; i < half; i++ {
		expectEvent(s, i, ids)
	}
	if _, err := c.Ack(ctx, &liiklus.AckRequest{Topic: topic, Group: group, Partition: 0, Offset: uint64(half - 1)}); err != nil {
		fail("Ack(%d): %v", half-1, err)
	}
	if got := offsets(ctx, c, topic, group); len(got) != 1 || got[0] != uint64(half-1) {
		fail("GetOffsets after Ack(%d): %v", half-1, got)
	}
	s.cancel()
	ok("group %s received offsets 0..%d in LIIKLUS_EVENT format and acked %d", group, half-1, half-1)

	// Re-subscribing resumes after the ack, not from the start (auto_offset_reset no longer applies).
	s = subscribe(ctx, c, topic, group, liiklus.SubscribeRequest_EARLIEST, liiklus.ReceiveRequest_LIIKLUS_EVENT)
	for i := half; i < n; i++ {
		expectEvent(s, i, ids)
	}
	// The deprecated Ack form names the session's assignment instead of topic and group.
	if _, err := c.Ack(ctx, &liiklus.AckRequest{Assignment: s.assign, Offset: uint64(n - 1)}); err != nil {
		fail("Ack by assignment: %v", err)
	}
	if got := offsets(ctx, c, topic, group); len(got) != 1 || got[0] != uint64(n-1) {
		fail("GetOffsets after the second Ack: %v, want {0: %d}", got, n-1)
	}
	s.cancel()
	ok("group %s resumed at offset %d after re-subscribing, acked %d (deprecated form)", group, half, n-1)

	// riff's own subscription loop: a second group sees every event and acks each one.
	got := make(chan liiklus.LiiklusEvent, n)
	errs := make(chan error, 4)
	stop, err := sc.Subscribe(ctx, "interop-b", true,
		func(_ context.Context, e liiklus.LiiklusEvent) error { got <- e; return nil },
		func(_ context.CancelFunc, err error) {
			select { // riff reports the cancellation by stop() too; keep only the first error.
			case errs <- err:
			default:
			}
		})
	if err != nil {
		fail("StreamClient.Subscribe: %v", err)
	}
	for i := 0; i < n; i++ {
		select {
		case e := <-got:
			if !bytes.Equal(e.Data, payload(i)) {
				fail("StreamClient.Subscribe: event %d carries %q, want %q", i, e.Data, payload(i))
			}
		case err := <-errs:
			fail("StreamClient.Subscribe: event %d: %v", i, err)
		case <-ctx.Done():
			fail("StreamClient.Subscribe: timed out waiting for event %d", i)
		}
	}
	// riff acks after the handler returns, so the last ack may still be on its way.
	for {
		if o := offsets(ctx, c, topic, "interop-b"); len(o) == 1 && o[0] == uint64(n-1) {
			break
		}
		select {
		case <-ctx.Done():
			fail("GetOffsets(interop-b) never reached %d: %v", n-1, offsets(context.Background(), c, topic, "interop-b"))
		case <-time.After(20 * time.Millisecond):
		}
	}
	stop()
	ok("riff's StreamClient.Subscribe received all %d events; its acks left group interop-b at %d", n, n-1)

	// A LATEST group sees only what is published after it joined. When exactly its Receive
	// takes its place at the end is up to the gateway, so publish one new event at a time until
	// one arrives; none of the events from before the group joined may.
	s = subscribe(ctx, c, topic, "interop-latest", liiklus.SubscribeRequest_LATEST, liiklus.ReceiveRequest_LIIKLUS_EVENT)
	first := make(chan *liiklus.ReceiveReply, 1)
	firstErr := make(chan error, 1)
	go func() {
		reply, err := s.receive.Recv()
		if err != nil {
			firstErr <- err
			return
		}
		first <- reply
	}()
	next := n
	var latest *liiklus.ReceiveReply_LiiklusEventRecord
	for latest == nil {
		if _, err := sc.Publish(ctx, bytes.NewReader(payload(next)), nil, contentType,
			map[string]string{"seq": strconv.Itoa(next)}); err != nil {
			fail("Publish %d: %v", next, err)
		}
		next++
		select {
		case reply := <-first:
			latest = reply.GetLiiklusEventRecord()
			if latest == nil {
				fail("LATEST group: not a LIIKLUS_EVENT record: %v", reply)
			}
		case err := <-firstErr:
			fail("LATEST group: Receive: %v", err)
		case <-ctx.Done():
			fail("LATEST group: nothing received")
		case <-time.After(200 * time.Millisecond):
		}
	}
	if latest.Offset < uint64(n) || latest.Offset >= uint64(next) ||
		!bytes.Equal(latest.Event.Data, payload(int(latest.Offset))) {
		fail("LATEST group: first record is offset %d (%q), want one published after joining (%d..%d)",
			latest.Offset, latest.Event.Data, n, next-1)
	}
	s.cancel()
	ok("a LATEST group started at offset %d, after the %d events published before it joined", latest.Offset, n)

	// Old clients: the deprecated raw `value` publish, read back in BINARY format.
	raw := []byte("raw bytes from an old liiklus client")
	pub, err := c.Publish(ctx, &liiklus.PublishRequest{Topic: topic, Key: []byte("k"), Value: raw})
	if err != nil {
		fail("Publish(value): %v", err)
	}
	// A new group's position can be set by Ack alone: point it just before the raw record.
	if _, err := c.Ack(ctx, &liiklus.AckRequest{Topic: topic, Group: "interop-binary", Offset: pub.Offset - 1}); err != nil {
		fail("Ack(%d): %v", pub.Offset-1, err)
	}
	s = subscribe(ctx, c, topic, "interop-binary", liiklus.SubscribeRequest_LATEST, liiklus.ReceiveRequest_BINARY)
	reply, err := s.receive.Recv()
	if err != nil {
		fail("Receive(BINARY): %v", err)
	}
	r := reply.GetRecord()
	if r == nil || r.Offset != pub.Offset || !bytes.Equal(r.Value, raw) || string(r.Key) != "k" {
		fail("Receive(BINARY): %v, want offset %d value %q key k", reply, pub.Offset, raw)
	}
	s.cancel()
	ok("deprecated value publish read back in BINARY format at offset %d", pub.Offset)

	// Errors liiklus clients see as gRPC status codes, not hangs.
	if _, err := c.Publish(ctx, &liiklus.PublishRequest{Topic: "interop_no-such-stream", Value: raw}); err == nil ||
		!strings.Contains(err.Error(), "NotFound") {
		fail("Publish to an unknown stream: %v, want NotFound", err)
	}
	ok("publishing to an unknown stream fails with NotFound")

	fmt.Println("liiklus interop: all checks passed")
}
