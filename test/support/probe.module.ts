import { Body, Controller, Get, Module, Post } from '@nestjs/common';
import { IsIn, IsInt, IsString, Max, MaxLength, Min } from 'class-validator';
import { Roles } from '../../src/core/auth/auth.decorators';

class ProbeDto {
  @IsString() @MaxLength(10) name: string;
  @IsInt() @Min(1) @Max(5) count: number;
  @IsIn(['ios', 'android', 'web']) platform: string;
}

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

  @Get('crash')
  crash() {
    throw new Error('relation "secret_table" does not exist: SELECT * FROM secret_table');
  }
}

@Module({ controllers: [ProbeController] })
export class ProbeModule {}
