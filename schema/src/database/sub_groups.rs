//! Queries of `group_sub_groups`: the members of aggregate groups and their weights. Every write
//! bumps the revision in its transaction, like any configuration change.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::{Database, now};
use crate::DbError;
use crate::connection::DbPool;
use crate::models::Group;
use crate::schema::{config_revision, group_sub_groups, groups};

impl Database {
    /// The members of an aggregate with their weights, in membership order.
    pub async fn sub_groups(&self, aggregate_id: i64) -> Result<Vec<(Group, i32)>, DbError> {
        let links: Vec<(i64, i32)> = with_conn!(self, |c| group_sub_groups::table
            .filter(group_sub_groups::group_id.eq(aggregate_id))
            .order(group_sub_groups::id.asc())
            .select((group_sub_groups::sub_group_id, group_sub_groups::weight))
            .load(c)
            .await)?;
        self.with_groups(links).await
    }

    /// The aggregates a group belongs to, with its weight in each.
    pub async fn parent_aggregates(&self, group_id: i64) -> Result<Vec<(Group, i32)>, DbError> {
        let links: Vec<(i64, i32)> = with_conn!(self, |c| group_sub_groups::table
            .filter(group_sub_groups::sub_group_id.eq(group_id))
            .order(group_sub_groups::id.asc())
            .select((group_sub_groups::group_id, group_sub_groups::weight))
            .load(c)
            .await)?;
        self.with_groups(links).await
    }

    /// `(group id, weight)` links with their groups, in the links' order.
    async fn with_groups(&self, links: Vec<(i64, i32)>) -> Result<Vec<(Group, i32)>, DbError> {
        let ids: Vec<i64> = links.iter().map(|(id, _)| *id).collect();
        let mut by_id: HashMap<i64, Group> = with_conn!(self, |c| groups::table
            .filter(groups::id.eq_any(&ids))
            .select(Group::as_select())
            .load::<Group>(c)
            .await)?
        .into_iter()
        .map(|g| (g.id, g))
        .collect();
        Ok(links
            .into_iter()
            .filter_map(|(id, w)| by_id.remove(&id).map(|g| (g, w)))
            .collect())
    }

    /// Adds members to an aggregate in one transaction.
    pub async fn add_sub_groups(
        &self,
        aggregate_id: i64,
        members: &[(i64, i32)],
    ) -> Result<(), DbError> {
        let ts = now();
        with_conn!(self, |c| {
            c.transaction(async |c| -> Result<_, DbError> {
                for (sub, weight) in members {
                    diesel::insert_into(group_sub_groups::table)
                        .values((
                            group_sub_groups::group_id.eq(aggregate_id),
                            group_sub_groups::sub_group_id.eq(*sub),
                            group_sub_groups::weight.eq(*weight),
                            group_sub_groups::created_at.eq(ts),
                            group_sub_groups::updated_at.eq(ts),
                        ))
                        .execute(c)
                        .await?;
                }
                bump_revision!(c)?;
                Ok(())
            })
            .await
        })
    }

    /// Sets a member's weight. False when it is not a member.
    pub async fn set_sub_group_weight(
        &self,
        aggregate_id: i64,
        sub_group_id: i64,
        weight: i32,
    ) -> Result<bool, DbError> {
        let ts = now();
        with_conn!(self, |c| {
            c.transaction(async |c| -> Result<_, DbError> {
                let n = diesel::update(
                    group_sub_groups::table.filter(
                        group_sub_groups::group_id
                            .eq(aggregate_id)
                            .and(group_sub_groups::sub_group_id.eq(sub_group_id)),
                    ),
                )
                .set((
                    group_sub_groups::weight.eq(weight),
                    group_sub_groups::updated_at.eq(ts),
                ))
                .execute(c)
                .await?;
                if n > 0 {
                    bump_revision!(c)?;
                }
                Ok(n > 0)
            })
            .await
        })
    }

    /// Removes a member. False when it is not a member.
    pub async fn remove_sub_group(
        &self,
        aggregate_id: i64,
        sub_group_id: i64,
    ) -> Result<bool, DbError> {
        with_conn!(self, |c| {
            c.transaction(async |c| -> Result<_, DbError> {
                let n = diesel::delete(
                    group_sub_groups::table.filter(
                        group_sub_groups::group_id
                            .eq(aggregate_id)
                            .and(group_sub_groups::sub_group_id.eq(sub_group_id)),
                    ),
                )
                .execute(c)
                .await?;
                if n > 0 {
                    bump_revision!(c)?;
                }
                Ok(n > 0)
            })
            .await
        })
    }

    /// Every membership `(aggregate, member, weight)` (for the routing snapshot).
    pub async fn all_sub_groups(&self) -> Result<Vec<(i64, i64, i32)>, DbError> {
        with_conn!(self, |c| Ok(group_sub_groups::table
            .order(group_sub_groups::id.asc())
            .select((
                group_sub_groups::group_id,
                group_sub_groups::sub_group_id,
                group_sub_groups::weight,
            ))
            .load(c)
            .await?))
    }
}
