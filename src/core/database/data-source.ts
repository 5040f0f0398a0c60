// Used by the TypeORM CLI only (npm run migration:*); the app builds its DataSource in DatabaseModule.
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from '../../config/load-config';
import { dataSourceOptions } from './data-source.options';

export default new DataSource(dataSourceOptions(loadConfig().database.url));
