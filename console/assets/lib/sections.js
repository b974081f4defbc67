// The administration sections, for the navigation (app.js: who sees
// the Admin link, what /admin/{sub} needs) and for the admin pages'
// tabs (pages/admin.js): the path under /admin, the label, and the
// permission each needs.

export const ADMIN_SECTIONS = Object.freeze([
  {sub: 'keys', label: 'API keys', need: 'superuser'},
  {sub: 'users', label: 'Users', need: 'superuser'},
  {sub: 'retention', label: 'Retention', need: 'manage_retention'},
  {sub: 'databases', label: 'Databases', need: 'manage_database_config'},
].map(Object.freeze));
