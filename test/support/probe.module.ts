import { Body, Controller, Get, Module, Post, Query } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { IsIn, IsInt, IsString, Max, MaxLength, Min } from 'class-validator';
import { Roles } from '../../src/core/auth/auth.decorators';

class ProbeDto {
  @IsString() @MaxLength(10) name: string;
  @IsInt() @Min(1) @Max(5) count: number;
  @IsIn(['ios', 'android', 'web']) platform: string;
}

/** How many times the counted probe routes ran, per name (a test reads it to see whether a handler ran again). */
export const probeRuns = new Map<string, number>();
const run = (name: string) => {
  probeRuns.set(name, (probeRuns.get(name) ?? 0) + 1);
  return probeRuns.get(name)!;
};

/** Routes that exist only in tests, to exercise the global pipe, guards and filter. */
@Controller('probe')
class ProbeController {
  @Post('echo')
  echo(@Body() dto: ProbeDto) {
    return { received: dto, countType: typeof dto.count };
  }

  @Get('admin')
  @Roles('ADMIN', 'SERVICE')
  admin() {
    return { ok: true };
  }

  /** Counts its runs under `name`; `delayMs` makes it slow (concurrent duplicates). */
  @Post('counted')
  async counted(@Query('name') name: string, @Query('delayMs') delayMs?: string) {
    if (delayMs) await sleep(Number(delayMs));
    return { name, run: run(name) };
  }

  @Post('counted-crash')
  countedCrash(@Query('name') name: string) {
    run(name);
    throw new Error('a bug');
  }

  @Get('crash')
  crash() {
    throw new Error('relation "secret_table" does not exist: SELECT * FROM secret_table');
  }
}

@Module({ controllers: [ProbeController] })
export class ProbeModule {}
