package cluster

import (
	"strconv"
)

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
