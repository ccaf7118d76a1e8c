package policy

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/open-policy-agent/opa/v1/logging"
)

// opaLogger adapts slog to OPA's logging.Logger, for the plugin manager.
type opaLogger struct {
	log   *slog.Logger
	level logging.Level
}

func newOPALogger(log *slog.Logger) *opaLogger {
	l := &opaLogger{log: log, level: logging.Info}
	if log.Enabled(context.Background(), slog.LevelDebug) {
		l.level = logging.Debug
	}
	return l
}

func (l *opaLogger) Debug(f string, a ...any) { l.emit(logging.Debug, slog.LevelDebug, f, a) }
func (l *opaLogger) Info(f string, a ...any)  { l.emit(logging.Info, slog.LevelInfo, f, a) }
func (l *opaLogger) Warn(f string, a ...any)  { l.emit(logging.Warn, slog.LevelWarn, f, a) }
func (l *opaLogger) Error(f string, a ...any) { l.emit(logging.Error, slog.LevelError, f, a) }

func (l *opaLogger) emit(level logging.Level, sl slog.Level, f string, a []any) {
	if level > l.level {
		return
	}
	l.log.Log(context.Background(), sl, "opa: "+fmt.Sprintf(f, a...))
}

func (l *opaLogger) WithFields(fields map[string]any) logging.Logger {
	args := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		args = append(args, k, v)
	}
	return &opaLogger{log: l.log.With(args...), level: l.level}
}

func (l *opaLogger) GetLevel() logging.Level   { return l.level }
func (l *opaLogger) SetLevel(lv logging.Level) { l.level = lv }
