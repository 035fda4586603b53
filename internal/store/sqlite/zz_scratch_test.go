package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

func TestZZScratchSeed(t *testing.T) {
	s := mustOpenTemp(t)
	ctx := context.Background()
	n := 100000
	result := json.RawMessage(`{"n":1}`)
	start := time.Now()
	for from := 0; from < n; from += 10000 {
		acts := make([]*whisk.Activation, 0, 10000)
		for i := from; i < from+10000; i++ {
			name := "action" + strconv.Itoa(i%100)
			a := &whisk.Activation{Namespace: "guest", Name: name, Version: "0.0.1", Subject: "guest",
				ActivationID: fmt.Sprintf("%08x%024x", 0xabcdef, i), Start: int64(1717200000000 + i*26), End: 3, Duration: 3,
				Response: whisk.NewResponse(whisk.StatusSuccess, result), Logs: []string{}}
			a.Annotations = a.Annotations.Set("path", "guest/"+name).Set("kind", "nodejs:20").Set("waitTime", 1)
			acts = append(acts, a)
		}
		if err := s.PutActivations(ctx, acts); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d in %v", n, time.Since(start))
}
