package sqlite

import (
	"testing"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/store/storetest"
)

func TestSchedules(t *testing.T) {
	storetest.RunSchedules(t, func(t *testing.T) store.Schedules { return mustOpenTemp(t) })
}
