import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** The one error shape every HTTP error has (DESIGN.md). */
export class ErrorResponse {
  @ApiProperty({ example: 400 }) statusCode: number;
  @ApiProperty({ example: 'Bad Request' }) error: string;
  @ApiProperty({ example: 'validation_failed', description: 'Stable machine-readable code' }) code: string;
  @ApiProperty({ example: 'Request validation failed' }) message: string;
  @ApiPropertyOptional({
    type: 'array',
    items: { type: 'object' },
    example: [{ field: 'platform', messages: ['platform must be one of the following values: ios, android, web'] }],
  })
  details?: unknown[];
  @ApiProperty({ example: '3f1c0a52-8d0e-4a8e-9a57-0c2b6f1e2d11' }) requestId: string;
}
