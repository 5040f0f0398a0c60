import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsDefined, IsOptional, Matches, ValidateNested } from 'class-validator';
import { IsTimeZone } from '../../../core/http/validators';

const CLOCK = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;

/** Per category: true to receive pushes. Categories left out are on. */
export class CategorySwitches {
  @ApiPropertyOptional({ default: true }) @IsOptional() @IsBoolean() message?: boolean;
  @ApiPropertyOptional({ default: true }) @IsOptional() @IsBoolean() booking?: boolean;
  @ApiPropertyOptional({ default: true }) @IsOptional() @IsBoolean() announcement?: boolean;
  @ApiPropertyOptional({ default: true }) @IsOptional() @IsBoolean() promotion?: boolean;
  @ApiPropertyOptional({ default: true }) @IsOptional() @IsBoolean() system?: boolean;
}

export class QuietHours {
  @ApiProperty({ example: '22:00', description: 'HH:MM, in timezone' })
  @Matches(CLOCK, { message: 'start must be HH:MM (00:00 to 23:59)' })
  start: string;

  @ApiProperty({ example: '07:00', description: 'HH:MM, in timezone; may be earlier than start (the window wraps midnight)' })
  @Matches(CLOCK, { message: 'end must be HH:MM (00:00 to 23:59)' })
  end: string;

  @ApiProperty({ example: 'Europe/London', description: 'IANA time zone' })
  @IsDefined()
  @IsTimeZone()
  timezone: string;
}

/** PUT replaces the whole document: fields left out take their defaults. */
export class PreferencesDto {
  @ApiPropertyOptional({ default: true, description: 'Global switch: false stops every push (the inbox still fills)' })
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;

  @ApiPropertyOptional({ type: CategorySwitches })
  @IsOptional()
  @ValidateNested()
  @Type(() => CategorySwitches)
  categories?: CategorySwitches;

  @ApiPropertyOptional({
    type: QuietHours,
    nullable: true,
    description: 'No pushes in this window, except high priority system notifications; null for none',
  })
  @IsOptional()
  @ValidateNested()
  @Type(() => QuietHours)
  quietHours?: QuietHours | null;
}

export class PreferencesResponse {
  @ApiProperty() enabled: boolean;
  @ApiProperty({ type: CategorySwitches }) categories: Required<CategorySwitches>;
  @ApiPropertyOptional({ type: QuietHours, nullable: true }) quietHours: QuietHours | null;
}
