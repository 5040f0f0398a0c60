import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Public } from '../../core/auth/auth.decorators';
import { ErrorResponse } from '../../core/http/error-response.dto';
import { DEMO_PATH } from './demo-page.controller';
import { DemoTokenService } from './demo-token.service';
import { DemoTokenDto, DemoTokenResponse } from './dto/demo-token.dto';

/**
 * `POST /demo/token`: anyone may become any demo user, so this route is mounted only outside
 * production (DemoModule decides); in production it does not exist (404 not_found).
 */
@ApiTags('demo')
@Public()
@Controller(DEMO_PATH)
export class DemoTokenController {
  constructor(private readonly tokens: DemoTokenService) {}

  @Post('token')
  @HttpCode(200)
  @ApiOperation({ summary: 'Development only: an access token for a demo user (tenant `demo`), for the /demo page' })
  @ApiOkResponse({ type: DemoTokenResponse })
  @ApiBadRequestResponse({ type: ErrorResponse, description: '`validation_failed`: userId is not a user id' })
  mint(@Body() dto: DemoTokenDto): Promise<DemoTokenResponse> {
    return this.tokens.mint(dto.userId);
  }
}
