package main

import (
	"fmt"
	"io"
	"log/slog"
)

// Log formats.
const (
	formatJSON = "json"
	formatText = "text"
)

// logFlags are the --log-level and --log-format flags.
type logFlags struct {
	level  logLevel
	format logFormat
}

// register adds the flags to fs; format is the default --log-format.
func (l *logFlags) register(fs *flagSet, format string) {
	l.level = logLevel(slog.LevelInfo)
	l.format = logFormat(format)
	fs.Var(&l.level, "log-level", "log `level`: debug, info (default), warn or error")
	fs.Var(&l.format, "log-format", "log `format`: json or text")
}

// logger returns a logger writing to w.
func (l *logFlags) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.Level(l.level)}
	if l.format == formatText {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// logLevel is a flag.Value accepting the four slog level names.
type logLevel slog.Level

var levelNames = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

func (l *logLevel) String() string { return slog.Level(*l).String() }

func (l *logLevel) Set(s string) error {
	lvl, ok := levelNames[s]
	if !ok {
		return fmt.Errorf("must be debug, info, warn or error")
	}
	*l = logLevel(lvl)
	return nil
}

// logFormat is a flag.Value accepting "json" or "text".
type logFormat string

func (f *logFormat) String() string { return string(*f) }

func (f *logFormat) Set(s string) error {
	if s != formatJSON && s != formatText {
		return fmt.Errorf("must be json or text")
	}
	*f = logFormat(s)
	return nil
}
