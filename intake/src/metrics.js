// The intake's Prometheus metrics, on a registry of its own (no global
// state: each intake, and each test, has its own).

import client from 'prom-client';

/** newMetrics creates the registry and the intake's counters and gauges. */
export function newMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'bullmq_intake_' });
  const c = (name, help, labelNames) => new client.Counter({ name, help, labelNames, registers: [registry] });
  return {
    registry,
    handedOver: c('bullmq_intake_jobs_handed_over_total', 'BullMQ jobs handed to the fleet as tasks (duplicate="true": the task existed already).', ['queue', 'duplicate']),
    refused: c('bullmq_intake_jobs_refused_total', "BullMQ jobs failed because the fleet's task contract refused them.", ['queue']),
    completed: c('bullmq_intake_jobs_completed_total', 'BullMQ jobs completed (mirrored task completed, or completed at once by the mapping).', ['queue']),
    failed: c('bullmq_intake_jobs_failed_total', 'BullMQ jobs failed by the intake (refused, archived, deleted, repeatable).', ['queue']),
    inFlight: new client.Gauge({ name: 'bullmq_intake_jobs_in_flight', help: 'BullMQ jobs being handed over or mirrored.', labelNames: ['queue'], registers: [registry] }),
    apiErrors: c('bullmq_intake_api_errors_total', 'Failed calls to the task API by kind (transient, misconfigured, refused, not_found, permanent).', ['kind']),
  };
}
