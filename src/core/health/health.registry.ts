import { Injectable } from '@nestjs/common';
import type { HealthIndicatorFunction } from '@nestjs/terminus';

/**
 * Modules add their own checks here (queue depth, connected sockets) without the health module
 * knowing them. `readiness` checks also gate /health/ready; the others only appear in /health.
 */
@Injectable()
export class HealthRegistry {
  private readonly checks: { indicator: HealthIndicatorFunction; readiness: boolean }[] = [];
  private draining = false;

  register(indicator: HealthIndicatorFunction, options: { readiness?: boolean } = {}): void {
    this.checks.push({ indicator, readiness: options.readiness ?? false });
  }

  indicators(scope: 'readiness' | 'all'): HealthIndicatorFunction[] {
    return this.checks.filter((c) => scope === 'all' || c.readiness).map((c) => c.indicator);
  }

  /** Set at SIGTERM: readiness fails so the load balancer stops sending traffic here. */
  markDraining(): void {
    this.draining = true;
  }

  get isDraining(): boolean {
    return this.draining;
  }
}
