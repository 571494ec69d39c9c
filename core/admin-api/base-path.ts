/** Where the admin API is mounted (core/app.ts); route paths and the OpenAPI `servers` entry are relative to it. */
export const ADMIN_BASE_PATH = '/admin/v1';
