package handlertest_test

import (
	"testing"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/handlertest"
)

// A Conn made as a composite literal, as its field docs allow, works: its
// Context exists and ends at Close.
func TestConnLiteral(t *testing.T) {
	c := &handlertest.Conn{Proto: "chat"}
	ctx := c.Context()
	if ctx == nil || ctx.Err() != nil {
		t.Fatalf("Context of a literal Conn: %v", ctx)
	}
	if err := c.Close(handler.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() == nil {
		t.Fatal("Context not cancelled by Close")
	}
}

// Close of a Server never started returns, as httptest's does.
func TestUnstartedServerClose(t *testing.T) {
	s := handlertest.NewUnstartedServer(handler.NewEcho)
	if err := s.Close(); err != nil {
		t.Fatalf("Close of an unstarted Server: %v", err)
	}
}
