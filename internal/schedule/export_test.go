package schedule

import "github.com/hibiken/asynq"

const asynqTaskIDOpt = asynq.TaskIDOpt
