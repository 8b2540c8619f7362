// Package config reads a process's configuration from its environment: typed
// values, defaults, and one [ConfigError] naming the first variable that is
// missing or malformed. It is internal to the fleet and imports only the
// standard library, so an adapter can read its variables without the runtime.
package config
